package evidence

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
	"github.com/folio-ledger/folio/internal/types"
)

// ErrInvalid is returned when any check fails.
var ErrInvalid = errors.New("evidence does not verify")

// Check is one verified statement, or the reason it failed.
type Check struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report lists every check of a bundle and what it proves.
type Report struct {
	Valid     bool            `json:"valid"`
	Namespace string          `json:"namespace"`
	Key       string          `json:"key"`
	Record    json.RawMessage `json:"record,omitempty"`
	Block     uint64          `json:"block"`
	StateRoot string          `json:"state_root"`
	Checks    []Check         `json:"checks"`
}

func (r *Report) pass(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) fail(name, format string, args ...any) error {
	r.Checks = append(r.Checks, Check{Name: name, OK: false, Detail: fmt.Sprintf(format, args...)})
	return fmt.Errorf("%w: %s: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
}

// Root is one organisation's root CA certificate, the only thing the
// verifier trusts. RootsFromGenesis reads them from a channel's genesis
// block; a court may equally be handed the PEM files.
type Root struct {
	// MSPID names the organisation in signed messages, e.g. "Org1MSP".
	MSPID string
	// Cert is the organisation's root CA certificate.
	Cert *x509.Certificate
}

// RootsFromGenesis returns the root certificates of every organisation in
// a channel's genesis block (block 0, as `folio block get 0` prints it).
// The block is checked for well-formedness only: whoever hands it over is
// trusted for it, as with any pinned trust anchor.
func RootsFromGenesis(genesis *foliov1.Block) ([]Root, error) {
	cfg, err := channel.FromGenesis(genesis)
	if err != nil {
		return nil, err
	}
	orgs, err := channel.MSPOrgs(cfg)
	if err != nil {
		return nil, err
	}
	out := make([]Root, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, Root{MSPID: o.MSPID, Cert: o.Root})
	}
	return out, nil
}

// orgs turns roots into the MSP's organisations, named by the root's
// organisation (or the MSP ID when it has none).
func orgs(roots []Root) ([]identity.Org, error) {
	out := make([]identity.Org, 0, len(roots))
	for _, r := range roots {
		if r.MSPID == "" || r.Cert == nil {
			return nil, errors.New("a root needs an MSP ID and a certificate")
		}
		name := r.MSPID
		if len(r.Cert.Subject.Organization) > 0 {
			name = r.Cert.Subject.Organization[0]
		}
		out = append(out, identity.Org{Name: name, MSPID: r.MSPID, Root: r.Cert})
	}
	return out, nil
}

// Verify checks a bundle with nothing but the organisations' root
// certificates (roots). Identities are validated as of the time they
// signed (the block's or transaction's timestamp), so old evidence stays
// verifiable after certificates expire; revocation is not checked offline.
// It returns the report and, if any check failed, an error wrapping ErrInvalid.
func Verify(data []byte, roots []Root) (*Report, error) {
	r := &Report{}
	trusted, err := orgs(roots)
	if err == nil {
		// The verifiers below are made from the same organisations at
		// other times: once they are accepted here, they are there.
		_, err = identity.NewChainVerifier(trusted)
	}
	if err != nil {
		return r, r.fail("trust", "the roots given are not usable: %v", err)
	}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return r, r.fail("format", "not a Folio evidence bundle: %v", err)
	}
	if b.Format != Format {
		return r, r.fail("format", "format %q, this verifier reads %q", b.Format, Format)
	}
	if canon, err := b.Encode(); err != nil || !bytes.Equal(canon, data) {
		return r, r.fail("format", "the file is not in canonical form (a byte was changed, added or removed)")
	}
	r.pass("format", "%s, canonical encoding", Format)
	ns, key, value, root, err := b.scalars()
	if err != nil {
		return r, r.fail("encoding", "%v", err)
	}
	r.Namespace, r.Key, r.Block, r.StateRoot, r.Record = string(ns), string(key), b.BlockNumber, b.StateRoot, b.Record
	if len(trusted) == 0 {
		return r, r.fail("trust", "no trusted root certificates given")
	}

	// 1. The value is in the state trie under the state root.
	if err := r.verifyTrie(&b, ns, key, value, root); err != nil {
		return r, err
	}
	// 2. The state root is that of a block the orderers signed, attested by
	// peers of every organisation.
	hdr, err := b.BlockHeader.decode()
	if err != nil || hdr.Number != b.BlockNumber {
		return r, r.fail("block", "block header of block %d is malformed or numbered %d", b.BlockNumber, hdr.GetNumber())
	}
	blockHash, err := types.HeaderHash(hdr)
	if err != nil {
		return r, r.fail("block", "%v", err)
	}
	ordererMSPs, err := r.verifyOrdererSignatures("block", hdr, b.OrdererSignatures, trusted)
	if err != nil {
		return r, err
	}
	if err := r.verifyAttestations(&b, blockHash, root, hdr, ordererMSPs, trusted); err != nil {
		return r, err
	}
	// 3. Every change of the key was signed by its creator and ordered.
	if err := r.verifyHistory(&b, ns, key, value, trusted); err != nil {
		return r, err
	}
	r.Valid = true
	return r, nil
}

func (b *Bundle) scalars() (ns, key, value []byte, root [32]byte, err error) {
	if ns, err = hex.DecodeString(b.Namespace); err != nil {
		return nil, nil, nil, root, fmt.Errorf("namespace: %w", err)
	}
	if key, err = hex.DecodeString(b.Key); err != nil {
		return nil, nil, nil, root, fmt.Errorf("key: %w", err)
	}
	if value, err = hex.DecodeString(b.Value); err != nil {
		return nil, nil, nil, root, fmt.Errorf("value: %w", err)
	}
	if root, err = hash32(b.StateRoot); err != nil {
		return nil, nil, nil, root, fmt.Errorf("state_root: %w", err)
	}
	return ns, key, value, root, nil
}

func (r *Report) verifyTrie(b *Bundle, ns, key, value []byte, root [32]byte) error {
	acctProof, err := unhexAll(b.AccountProof)
	if err != nil {
		return r.fail("trie", "account_proof: %v", err)
	}
	storProof, err := unhexAll(b.StorageProof)
	if err != nil {
		return r.fail("trie", "storage_proof: %v", err)
	}
	want, err := b.Account.decode()
	if err != nil {
		return r.fail("trie", "account: %v", err)
	}
	acct, err := proof.VerifyAccount(root, ns, acctProof)
	if err != nil || acct == nil {
		return r.fail("trie", "account proof of namespace %q does not verify against state root %s: %v", ns, b.StateRoot, err)
	}
	ea, _ := acct.Encode()
	eb, _ := want.Encode()
	if !bytes.Equal(ea, eb) {
		return r.fail("trie", "the account record proven differs from the bundle's account")
	}
	got, err := proof.VerifyStorage(root, ns, acctProof, key, storProof)
	if err != nil {
		return r.fail("trie", "storage proof of key %q does not verify: %v", key, err)
	}
	if !bytes.Equal(got, value) {
		return r.fail("trie", "the value proven differs from the bundle's value")
	}
	if len(b.Record) > 0 {
		var v, rec bytes.Buffer
		if json.Compact(&v, value) != nil || json.Compact(&rec, b.Record) != nil || !bytes.Equal(v.Bytes(), rec.Bytes()) {
			return r.fail("record", "the readable record differs from the proven value")
		}
	}
	r.pass("trie", "value of %q/%q proven in the Ethereum secure-trie layout against state root %s (account nonce %d, storage root %s)",
		ns, key, b.StateRoot, want.Nonce, b.Account.StorageRoot)
	return nil
}

// verifyOrdererSignatures checks at least one valid orderer signature over
// hdr and returns the MSP IDs of the orderers that signed.
func (r *Report) verifyOrdererSignatures(what string, hdr *foliov1.BlockHeader, sigs []Signature, trusted []identity.Org) (map[string]bool, error) {
	at := time.Unix(0, hdr.TimestampUnixNano)
	msp, _ := identity.NewVerifier(trusted, func() time.Time { return at }) // roots checked in Verify
	canon, _ := types.HeaderBytes(hdr)
	signers := map[string]bool{}
	var names []string
	for _, s := range sigs {
		signer, e1 := hex.DecodeString(s.Signer)
		sig, e2 := hex.DecodeString(s.Signature)
		if e1 != nil || e2 != nil {
			continue
		}
		id, err := msp.ValidateSerialized(signer)
		if err != nil || id.Role != identity.RoleOrderer {
			continue
		}
		if fcrypto.Verify(id.Cert.PublicKey, types.DomainBlock, canon, sig) == nil {
			signers[id.MSPID] = true
			names = append(names, id.Label())
		}
	}
	if len(names) == 0 {
		return nil, r.fail(what, "block %d carries no valid signature of a trusted orderer", hdr.Number)
	}
	if what == "block" {
		r.pass(what, "block %d header signed by %s", hdr.Number, strings.Join(names, ", "))
	}
	return signers, nil
}

func (r *Report) verifyAttestations(b *Bundle, blockHash []byte, root [32]byte, hdr *foliov1.BlockHeader, ordererMSPs map[string]bool, trusted []identity.Org) error {
	msp, _ := identity.NewVerifier(trusted, func() time.Time { return time.Unix(0, hdr.TimestampUnixNano) }) // roots checked in Verify
	covered := map[string][]string{}
	for i, a := range b.Attestations {
		raw, e1 := hex.DecodeString(a.Attestation)
		signer, e2 := hex.DecodeString(a.Signer)
		sig, e3 := hex.DecodeString(a.Signature)
		if e1 != nil || e2 != nil || e3 != nil {
			return r.fail("attestations", "attestation %d is not hex", i)
		}
		var st foliov1.StateAttestation
		if err := proto.Unmarshal(raw, &st); err != nil {
			return r.fail("attestations", "attestation %d does not decode", i)
		}
		id, err := msp.ValidateSerialized(signer)
		if err != nil || id.Role != identity.RolePeer {
			return r.fail("attestations", "attestation %d is not by a valid peer: %v", i, err)
		}
		if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainAttestation, raw, sig); err != nil {
			return r.fail("attestations", "attestation by %s: %v", id.Label(), err)
		}
		if st.ChannelId != b.Channel || st.BlockNumber != b.BlockNumber || !bytes.Equal(st.BlockHash, blockHash) || !bytes.Equal(st.StateRoot, root[:]) {
			return r.fail("attestations", "%s attests another block or state root (block %d, root %x)", id.Label(), st.BlockNumber, st.StateRoot)
		}
		covered[id.MSPID] = append(covered[id.MSPID], id.Label())
	}
	var who []string
	for _, o := range trusted {
		if ordererMSPs[o.MSPID] {
			continue
		}
		if len(covered[o.MSPID]) == 0 {
			return r.fail("attestations", "no peer of %s attests state root %s at block %d", o.MSPID, b.StateRoot, b.BlockNumber)
		}
		who = append(who, covered[o.MSPID]...)
	}
	r.pass("attestations", "state root %s after block %d attested by %s", b.StateRoot, b.BlockNumber, strings.Join(who, ", "))
	return nil
}

func (r *Report) verifyHistory(b *Bundle, ns, key, value []byte, trusted []identity.Org) error {
	if len(b.History) == 0 {
		return r.fail("history", "no history entries")
	}
	var last *foliov1.KVWrite
	var prev Version
	for i, t := range b.History {
		name := fmt.Sprintf("history[%d]", i)
		env, err := hex.DecodeString(t.Envelope)
		if err != nil {
			return r.fail(name, "envelope is not hex")
		}
		path, err := unhexAll(t.InclusionPath)
		if err != nil {
			return r.fail(name, "inclusion path: %v", err)
		}
		hdr, err := t.BlockHeader.decode()
		if err != nil || hdr.Number != t.BlockNumber {
			return r.fail(name, "block header malformed")
		}
		if !types.VerifyInclusion(env, uint64(t.TxIndex), uint64(t.TxCount), path, hdr.DataHash) {
			return r.fail(name, "transaction %s is not at position %d of block %d", t.TxID, t.TxIndex, t.BlockNumber)
		}
		if _, err := r.verifyOrdererSignatures(name, hdr, t.OrdererSignatures, trusted); err != nil {
			return err
		}
		var e foliov1.Envelope
		if err := proto.Unmarshal(env, &e); err != nil {
			return r.fail(name, "envelope does not decode")
		}
		p, err := types.ParseEnvelope(&e)
		if err != nil || p.Header.TxId != t.TxID {
			return r.fail(name, "envelope of %s is malformed or has another tx ID: %v", t.TxID, err)
		}
		at := time.Unix(0, p.Header.TimestampUnixNano)
		msp, _ := identity.NewVerifier(trusted, func() time.Time { return at }) // roots checked in Verify
		creator, err := msp.ValidateSerialized(p.Header.Creator)
		if err != nil {
			return r.fail(name, "creator of %s: %v", t.TxID, err)
		}
		if err := fcrypto.Verify(creator.Cert.PublicKey, types.DomainEnvelope, e.Payload, e.Signature); err != nil {
			return r.fail(name, "creator signature of %s: %v", t.TxID, err)
		}
		et, err := types.ParseEndorsedTransaction(p)
		if err != nil {
			return r.fail(name, "%v", err)
		}
		var endorsers []string
		for _, en := range et.Tx.Endorsements {
			id, err := msp.ValidateSerialized(en.Endorser)
			if err == nil && fcrypto.Verify(id.Cert.PublicKey, types.DomainEndorsement, types.EndorsementMessage(et.Tx.ResponsePayload, en.Endorser), en.Signature) == nil {
				endorsers = append(endorsers, id.Label())
			}
		}
		w := writeOf(et.Response.Action.GetRwset(), string(ns), string(key))
		if w == nil {
			return r.fail(name, "transaction %s does not write %q/%q", t.TxID, ns, key)
		}
		v := Version{Block: t.BlockNumber, Tx: uint64(t.TxIndex)}
		if i > 0 && (v.Block < prev.Block || v.Block == prev.Block && v.Tx <= prev.Tx) {
			return r.fail(name, "history is not in commit order")
		}
		prev, last = v, w
		r.pass(name, "%s: %s.%s by %s at %s, endorsed by %s, ordered in block %d (tx %d), code %s",
			t.TxID, et.Proposal.Invocation.Contract, et.Proposal.Invocation.Function, creator.Label(), at.UTC().Format(time.RFC3339),
			strings.Join(endorsers, ", "), t.BlockNumber, t.TxIndex, t.ValidationCode)
	}
	if prev != b.Version || last.IsDelete || !bytes.Equal(last.Value, value) {
		return r.fail("history", "the last change (block %d, tx %d) is not the proven value's version (block %d, tx %d)", prev.Block, prev.Tx, b.Version.Block, b.Version.Tx)
	}
	return nil
}

func writeOf(rw *foliov1.ReadWriteSet, ns, key string) *foliov1.KVWrite {
	for _, n := range rw.GetNsRwsets() {
		if n.Namespace != ns {
			continue
		}
		for _, w := range n.Writes {
			if w.Key == key {
				return w
			}
		}
	}
	return nil
}
