package enclave

import (
	"github.com/folio-ledger/folio/internal/ledger"
)

// LedgerSource is the peer's ledger as the enclave's StateSource: every
// reader is a *ledger.Reader, one consistent committed height (vm.KV and
// vm.HistoryEntry are the ledger's own types, so no conversion is needed).
func LedgerSource(l *ledger.Ledger) StateSource { return ledgerSource{l} }

type ledgerSource struct{ l *ledger.Ledger }

var _ StateReader = (*ledger.Reader)(nil)

func (s ledgerSource) NewStateReader() (StateReader, error) {
	r, err := s.l.NewReader()
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Writes lists the writes of a block's ledger updates as Commit takes
// them, in block order: the committer calls
//
//	root, err := l.Commit(block, updates)
//	err = e.Commit(ctx, block.Header.Number, enclave.Writes(updates))
func Writes(u ledger.Updates) []Write {
	var out []Write
	for _, tx := range u.Txs {
		for _, nw := range tx.Writes {
			for _, w := range nw.Writes {
				out = append(out, Write{Namespace: nw.Namespace, Key: w.Key, Value: w.Value, Delete: w.IsDelete, Tx: tx.TxNum})
			}
		}
	}
	return out
}
