package validate

import foliov1 "github.com/folio-ledger/folio/api/folio/v1"

// CheckTx runs on one envelope, transaction index of the block with header
// header, the checks of
// Block that need no state: decoding, channel, type, creator and its
// signature, and for endorser transactions the contract in force, the
// namespaces written, every endorsement and the endorsement policy, the
// contract version, and the read-write set's not-before time against the
// block's timestamp (from capability level 3). It is the very function Block runs on each
// transaction, exported so that an offline verifier (client/evidence)
// re-evaluates a committed transaction with the chain's own rules; what it
// cannot re-run offline (duplicates and MVCC against state) the verifier
// takes from the block's attested validation codes.
func CheckTx(raw []byte, index int, header *foliov1.BlockHeader, o Options) Tx {
	return checkTx(index, raw, header, o)
}

// ConfigUpdate returns the ConfigUpdateTx of a config transaction that
// passed CheckTx (nil for any other), to be applied in block order with
// channel.Config.Apply as Block does.
func (t *Tx) ConfigUpdate() []byte { return t.configData }
