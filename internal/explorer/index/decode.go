package index

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// Bounds on what one transaction's summary keeps: a page shows them, and
// a block of huge values must not make the index (or a page) huge.
const (
	// MaxValueBytes is the most of a written value a KeyWrite keeps.
	MaxValueBytes = 4 << 10
	// MaxArgsBytes is the most of a transaction's arguments kept, in total.
	MaxArgsBytes = 64 << 10
	// MaxKeysPerTx is the most reads and the most writes kept per
	// transaction (the copyright contract touches a handful).
	MaxKeysPerTx = 1000
)

// decodedTx is one envelope of a block: its summary, and the raw writes of
// the works namespace (untruncated) for the works index.
type decodedTx struct {
	sum    explorer.TxSummary
	writes []*foliov1.KVWrite // in Options.Namespace, only when the tx parsed
}

// labels names serialized identities "name@Org" with their MSP IDs,
// without validating them (the peers did, at commit). It remembers up to
// maxLabels identities: a chain has few creators and endorsers, and
// parsing three certificates per transaction was most of the indexing
// cost. Not safe for concurrent use (Apply's, under writeMu).
type labels map[string][2]string

const maxLabels = 4096

func (l labels) of(serialized []byte) (name, mspID string) {
	if v, ok := l[string(serialized)]; ok {
		return v[0], v[1]
	}
	name = "?"
	mspID, cert, err := identity.Deserialize(serialized)
	if err == nil {
		org := ""
		if len(cert.Subject.Organization) > 0 {
			org = cert.Subject.Organization[0]
		}
		name = cert.Subject.CommonName + "@" + org
	}
	if len(l) >= maxLabels {
		clear(l)
	}
	l[string(serialized)] = [2]string{name, mspID}
	return name, mspID
}

// printable returns b as text when it is valid UTF-8, else base64.
func printable(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// clip shortens s to at most n bytes without splitting a character.
func clip(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

func versionString(v *foliov1.Version) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", v.BlockNum, v.TxNum)
}

// decodeBlock summarises a block and its transactions. It never fails on
// a transaction: one that does not parse is kept as such (its validation
// code says why the peers refused it).
func decodeBlock(b *foliov1.Block, namespace string, names labels) (explorer.BlockSummary, []decodedTx) {
	h := b.Header
	hash, _ := types.HeaderHash(h) // ValidateBlock checked the header encodes
	s := explorer.BlockSummary{Number: h.Number, Hash: hex.EncodeToString(hash), PreviousHash: hex.EncodeToString(h.PreviousHash),
		DataHash: hex.EncodeToString(h.DataHash), StateRoot: hex.EncodeToString(b.GetMetadata().GetStateRoot()),
		Time: time.Unix(0, h.TimestampUnixNano).UTC(), Signers: []string{}, TxIDs: []string{}}
	for _, sig := range b.GetMetadata().GetSignatures() {
		name, _ := names.of(sig.Signer)
		s.Signers = append(s.Signers, name)
	}
	codes := b.GetMetadata().GetValidationCodes()
	envs := b.GetData().GetEnvelopes()
	txs := make([]decodedTx, 0, len(envs))
	for i, raw := range envs {
		code := foliov1.ValidationCode_NOT_VALIDATED
		if h.Number == 0 {
			// The genesis block is not validated: it is the chain's trust
			// anchor, and its configuration is in force by definition.
			code = foliov1.ValidationCode_VALID
		}
		if i < len(codes) {
			code = foliov1.ValidationCode(codes[i])
		}
		d := decodeTx(raw, namespace, names)
		d.sum.Block, d.sum.Index, d.sum.ValidationCode = h.Number, i, code.String()
		if d.sum.ID == "" {
			// An envelope too broken to name itself still needs a stable
			// address: its position.
			d.sum.ID = fmt.Sprintf("block%d-tx%d", h.Number, i)
		}
		s.Txs++
		if code == foliov1.ValidationCode_VALID {
			s.Valid++
		} else {
			if s.Invalid == nil {
				s.Invalid = map[string]int{}
			}
			s.Invalid[code.String()]++
			d.writes = nil // invalid transactions change nothing
		}
		s.TxIDs = append(s.TxIDs, d.sum.ID)
		txs = append(txs, d)
	}
	return s, txs
}

func decodeTx(raw []byte, namespace string, names labels) decodedTx {
	d := decodedTx{sum: explorer.TxSummary{Args: []string{}, Endorsers: []string{}, Reads: []explorer.KeyRead{}, Writes: []explorer.KeyWrite{}}}
	var env foliov1.Envelope
	if proto.Unmarshal(raw, &env) != nil {
		d.sum.Function = "undecodable envelope"
		return d
	}
	p, err := types.ParseEnvelope(&env)
	if err != nil {
		d.sum.Function = "undecodable payload"
		return d
	}
	hd := p.Header
	d.sum.ID = hd.TxId
	d.sum.Time = time.Unix(0, hd.TimestampUnixNano).UTC()
	d.sum.Creator, d.sum.CreatorOrg = names.of(hd.Creator)
	switch hd.Type {
	case foliov1.TxType_TX_TYPE_CONFIG:
		d.sum.Config = true
		d.sum.Function = "config"
	case foliov1.TxType_TX_TYPE_LIFECYCLE:
		d.sum.Contract = "_lifecycle"
		d.sum.Function, d.sum.Args = lifecycleCall(p.Data)
	case foliov1.TxType_TX_TYPE_ENDORSER:
		et, err := types.ParseEndorsedTransaction(p)
		if err != nil {
			d.sum.Function = "undecodable endorser transaction"
			return d
		}
		inv := et.Proposal.Invocation
		d.sum.Contract, d.sum.Function = inv.Contract, inv.Function
		d.sum.Args = clipArgs(inv.Args)
		for _, e := range et.Tx.Endorsements {
			name, _ := names.of(e.Endorser)
			d.sum.Endorsers = append(d.sum.Endorsers, name)
		}
		for _, ns := range et.Response.GetAction().GetRwset().GetNsRwsets() {
			d.addRWSet(ns)
			if ns.Namespace == namespace {
				d.writes = ns.Writes
			}
		}
	default:
		d.sum.Function = "unknown transaction type " + hd.Type.String()
	}
	return d
}

func (d *decodedTx) addRWSet(ns *foliov1.NsReadWriteSet) {
	read := func(r *foliov1.KVRead) {
		if len(d.sum.Reads) < MaxKeysPerTx {
			d.sum.Reads = append(d.sum.Reads, explorer.KeyRead{Namespace: ns.Namespace, Key: r.Key, Version: versionString(r.Version)})
		}
	}
	for _, r := range ns.Reads {
		read(r)
	}
	for _, rr := range ns.RangeReads {
		for _, r := range rr.Reads {
			read(r)
		}
	}
	for _, w := range ns.Writes {
		if len(d.sum.Writes) >= MaxKeysPerTx {
			break
		}
		kw := explorer.KeyWrite{Namespace: ns.Namespace, Key: w.Key, Delete: w.IsDelete}
		if !w.IsDelete {
			kw.Value, kw.Truncated = clip(printable(w.Value), MaxValueBytes)
		}
		d.sum.Writes = append(d.sum.Writes, kw)
	}
}

// clipArgs makes the arguments printable, keeping at most MaxArgsBytes in
// total; an argument cut short ends with "…" so the page says so.
func clipArgs(args [][]byte) []string {
	out := make([]string, 0, len(args))
	left := MaxArgsBytes
	for _, a := range args {
		s, cut := clip(printable(a), left)
		left -= len(s)
		if cut {
			s += "…"
		}
		out = append(out, s)
		if left <= 0 {
			break
		}
	}
	return out
}

// lifecycleCall names what a lifecycle transaction asks, as a function and
// one argument describing it.
func lifecycleCall(data []byte) (string, []string) {
	var lt foliov1.LifecycleTx
	var req foliov1.LifecycleRequest
	if proto.Unmarshal(data, &lt) != nil || proto.Unmarshal(lt.Request, &req) != nil {
		return "undecodable", []string{}
	}
	if in := req.GetInstall(); in != nil {
		return "install", []string{fmt.Sprintf("%s has %s version %s (sha256:%x)", in.Peer, in.Contract, in.Version, in.PackageHash)}
	}
	if a := req.GetActivate(); a != nil {
		start := fmt.Sprintf("%d blocks after this one", max(a.AfterBlocks, 1))
		if a.AtBlock > 0 {
			start = fmt.Sprintf("block %d", a.AtBlock)
		}
		return "activate", []string{fmt.Sprintf("%s version %s (sha256:%x) from %s, %d approvals", a.Contract, a.Version, a.PackageHash, start, len(lt.Approvals))}
	}
	return "empty", []string{}
}

// workID returns the work ID of a record key of the copyright contract
// (the composite key "\x00work\x00<id>\x00"), or false for any other key
// (the owner, author and hash index keys).
func workID(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, workKeyPrefix)
	if !ok || len(rest) < 2 || rest[len(rest)-1] != 0 {
		return "", false
	}
	id := rest[:len(rest)-1]
	if strings.IndexByte(id, 0) >= 0 {
		return "", false
	}
	return id, true
}
