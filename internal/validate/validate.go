package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/policy"
	"github.com/folio-ledger/folio/internal/types"
)

// Contracts answers what the validator needs to know about contracts.
type Contracts interface {
	// EndorsementRule returns the endorsement policy and the version of a
	// contract in force for transactions committing in block, or an error
	// if the contract is not defined then.
	EndorsementRule(contract string, block uint64) (*policy.Policy, string, error)
}

// State answers committed-state questions for MVCC.
type State interface {
	// Version returns the committed version of a key, nil if absent.
	Version(ns, key string) (*foliov1.Version, error)
	// RangeKeys returns the committed keys in [start, end) with versions,
	// ascending (end "" = unbounded), up to limit (0 = no limit).
	RangeKeys(ns, start, end string, limit int) ([]KeyVersion, error)
}

// KeyVersion is a key and its committed version.
type KeyVersion struct {
	Key     string
	Version *foliov1.Version
}

// TxIndex answers whether a transaction ID is already committed.
type TxIndex interface {
	HasTx(txID string) (bool, error)
}

// Options give the validator its view of the channel. Every input is a
// function of the chain up to the block (DESIGN 6): the configuration in
// force (organisations, on-chain revocations, nodes, capability level), the
// contract definitions and the committed state. No clock is read.
type Options struct {
	ChannelID string
	// Config is the channel configuration in force for the block.
	Config    *channel.Config
	Contracts Contracts
	State     State
	Committed TxIndex
	// Workers checks signatures in parallel. Default GOMAXPROCS.
	Workers int
	// OwnEndorsement, if set, reports endorsements this peer produced
	// itself: for txID, as endorser, over exactly payload, with exactly
	// signature. Such a signature is not verified again; that is the same
	// check on the same bytes, because this peer's key produced exactly
	// these signature bytes over exactly this message (EndorsementMessage
	// of payload and endorser), so verifying them could only succeed. A
	// single differing byte of signature, payload or endorser makes it
	// false and the signature is verified as any other.
	OwnEndorsement func(txID string, endorser, payload, signature []byte) bool
	// Lifecycle checks and applies lifecycle transactions (install records,
	// activations). Without it they are UNKNOWN_TX_TYPE.
	Lifecycle *lifecycle.Registry
}

// Tx is one transaction of a block after validation.
type Tx struct {
	Index   int
	TxID    string
	Code    foliov1.ValidationCode
	Reason  string
	Header  *foliov1.TxHeader
	Creator *identity.Identity
	// Endorsers are the endorsements of an endorser transaction that
	// counted (valid identity of the channel, signature verified).
	Endorsers []*identity.Identity
	// For endorser transactions that parsed: the call and its outcome. For
	// valid lifecycle transactions Action holds the lifecycle records they
	// write (namespace lifecycle.Namespace).
	Invocation *foliov1.ContractInvocation
	Action     *foliov1.ContractAction
	// Lifecycle is a lifecycle transaction that passed its stateless checks.
	Lifecycle *lifecycle.Tx
	// configData is a config update's ConfigUpdateTx, applied in block order.
	configData []byte
}

// Result is a validated block.
type Result struct {
	Txs []Tx
	// Lifecycle holds the block's accepted lifecycle changes, for
	// lifecycle.Registry.Commit once the block is committed (nil without
	// Options.Lifecycle).
	Lifecycle *lifecycle.Batch
	// Config is the configuration the block's last valid config update
	// puts in force from the next block (nil: unchanged).
	Config *channel.Config
}

// Codes returns one validation code byte per transaction, for block metadata.
func (r *Result) Codes() []byte {
	out := make([]byte, len(r.Txs))
	for i, t := range r.Txs {
		out[i] = byte(t.Code)
	}
	return out
}

// Block validates every transaction of block b (number b.Header.Number),
// given the state committed before it.
func Block(ctx context.Context, b *foliov1.Block, o Options) (*Result, error) {
	envs := b.GetData().GetEnvelopes()
	res := &Result{Txs: make([]Tx, len(envs))}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Stateless checks, in parallel.
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res.Txs[i] = checkTx(i, envs[i], b.Header, o)
			}
		}()
	}
	for i := range envs {
		select {
		case next <- i:
		case <-ctx.Done():
			close(next)
			wg.Wait()
			return nil, ctx.Err()
		}
	}
	close(next)
	wg.Wait()

	// In block order: duplicates and MVCC against state plus earlier writes.
	seen := map[string]bool{}
	pending := newOverlay()
	if o.Lifecycle != nil {
		res.Lifecycle = o.Lifecycle.NewBatch(lifecycleRules(b.Header.Number, o))
	}
	for i := range res.Txs {
		t := &res.Txs[i]
		if t.Code != foliov1.ValidationCode_VALID {
			continue
		}
		if seen[t.TxID] {
			t.fail(foliov1.ValidationCode_DUPLICATE_TXID, "transaction %s appears earlier in this block", t.TxID)
			continue
		}
		seen[t.TxID] = true
		dup, err := o.Committed.HasTx(t.TxID)
		if err != nil {
			return nil, fmt.Errorf("validate block %d: %w", b.Header.Number, err)
		}
		if dup {
			t.fail(foliov1.ValidationCode_DUPLICATE_TXID, "transaction %s is already committed", t.TxID)
			continue
		}
		if t.configData != nil {
			cur := o.Config
			if res.Config != nil {
				cur = res.Config
			}
			next, err := cur.Apply(t.Creator, t.configData, b.Header.Number)
			var unsupported *channel.UnsupportedCapabilityError
			if errors.As(err, &unsupported) {
				return nil, fmt.Errorf("validate block %d: %w", b.Header.Number, err)
			}
			if err != nil {
				t.fail(foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION, "%v", err)
				continue
			}
			res.Config = next
			t.Action = &foliov1.ContractAction{Contract: &foliov1.ContractRef{Name: channel.Namespace},
				Rwset: &foliov1.ReadWriteSet{NsRwsets: []*foliov1.NsReadWriteSet{{Namespace: channel.Namespace,
					Writes: []*foliov1.KVWrite{{Key: channel.UpdateKey, Value: next.Update()}}}}}}
			pending.add(t.Action.Rwset, &foliov1.Version{BlockNum: b.Header.Number, TxNum: uint64(i)})
			continue
		}
		if t.Lifecycle != nil {
			writes, err := res.Lifecycle.Apply(i, t.TxID, t.Lifecycle)
			if errors.Is(err, lifecycle.ErrRejected) {
				t.fail(foliov1.ValidationCode_LIFECYCLE_REJECTED, "%v", err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("validate block %d: lifecycle transaction %s: %w", b.Header.Number, t.TxID, err)
			}
			t.Action = &foliov1.ContractAction{Contract: &foliov1.ContractRef{Name: lifecycle.Namespace},
				Rwset: &foliov1.ReadWriteSet{NsRwsets: []*foliov1.NsReadWriteSet{{Namespace: lifecycle.Namespace, Writes: writes}}}}
			pending.add(t.Action.Rwset, &foliov1.Version{BlockNum: b.Header.Number, TxNum: uint64(i)})
			continue
		}
		code, reason, err := checkMVCC(t.Action.GetRwset(), o.State, pending)
		if err != nil {
			return nil, fmt.Errorf("validate block %d: %w", b.Header.Number, err)
		}
		if code != foliov1.ValidationCode_VALID {
			t.fail(code, "%s", reason)
			continue
		}
		pending.add(t.Action.GetRwset(), &foliov1.Version{BlockNum: b.Header.Number, TxNum: uint64(i)})
	}
	return res, nil
}

func (t *Tx) fail(code foliov1.ValidationCode, format string, args ...any) {
	t.Code, t.Reason = code, fmt.Sprintf(format, args...)
}

// checkTx runs the checks that need no state. bh is the header of the
// block being validated.
func checkTx(i int, raw []byte, bh *foliov1.BlockHeader, o Options) (t Tx) {
	block := bh.Number
	t = Tx{Index: i, Code: foliov1.ValidationCode_VALID}
	var env foliov1.Envelope
	if err := proto.Unmarshal(raw, &env); err != nil || len(raw) == 0 {
		t.fail(foliov1.ValidationCode_NIL_ENVELOPE, "envelope does not decode")
		return t
	}
	p, err := types.ParseEnvelope(&env)
	if err != nil {
		t.fail(envelopeCode(&env), "%v", err)
		return t
	}
	h := p.Header
	t.Header, t.TxID = h, h.TxId
	if h.ChannelId != o.ChannelID {
		t.fail(foliov1.ValidationCode_TARGET_CHAIN_NOT_FOUND, "transaction for channel %q on channel %q", h.ChannelId, o.ChannelID)
		return t
	}
	switch h.Type {
	case foliov1.TxType_TX_TYPE_ENDORSER:
	case foliov1.TxType_TX_TYPE_LIFECYCLE:
		if o.Lifecycle == nil {
			t.fail(foliov1.ValidationCode_UNKNOWN_TX_TYPE, "lifecycle transactions are not handled here")
			return t
		}
	case foliov1.TxType_TX_TYPE_CONFIG:
	default:
		t.fail(foliov1.ValidationCode_UNKNOWN_TX_TYPE, "transaction type %v", h.Type)
		return t
	}
	msp := o.Config.MSP()
	creator, err := msp.ValidateSerialized(h.Creator)
	if err != nil {
		t.fail(foliov1.ValidationCode_BAD_CREATOR_IDENTITY, "creator: %v", err)
		return t
	}
	t.Creator = creator
	if err := fcrypto.Verify(creator.Cert.PublicKey, types.DomainEnvelope, env.Payload, env.Signature); err != nil {
		t.fail(foliov1.ValidationCode_BAD_CREATOR_SIGNATURE, "creator %s: %v", creator.Label(), err)
		return t
	}
	if h.Type == foliov1.TxType_TX_TYPE_CONFIG {
		t.configData = p.Data
		return t
	}
	if h.Type == foliov1.TxType_TX_TYPE_LIFECYCLE {
		lt, err := o.Lifecycle.CheckTx(msp, creator, p.Data, lifecycleRules(block, o))
		if err != nil {
			t.fail(foliov1.ValidationCode_LIFECYCLE_REJECTED, "%v", err)
			return t
		}
		t.Lifecycle = lt
		return t
	}
	et, err := types.ParseEndorsedTransaction(p)
	if err != nil {
		code := foliov1.ValidationCode_INVALID_ENDORSER_TRANSACTION
		if errors.Is(err, types.ErrMalformed) && bytes.Contains([]byte(err.Error()), []byte("rwset")) {
			code = foliov1.ValidationCode_BAD_RWSET
		}
		t.fail(code, "%v", err)
		return t
	}
	t.Invocation, t.Action = et.Proposal.Invocation, et.Response.Action
	contract := et.Proposal.Invocation.Contract
	pol, want, err := o.Contracts.EndorsementRule(contract, block)
	if err != nil {
		t.fail(foliov1.ValidationCode_INVALID_CONTRACT, "%v", err)
		return t
	}
	if err := checkNamespaces(contract, et.Response.Action.GetRwset(), o.Config.Level()); err != nil {
		t.fail(foliov1.ValidationCode_ILLEGAL_WRITESET, "%v", err)
		return t
	}
	var endorsers []*identity.Identity
	var bad []string
	for _, e := range et.Tx.Endorsements {
		id, err := msp.ValidateSerialized(e.Endorser)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if err := o.Config.CheckEndorser(id); err != nil {
			bad = append(bad, err.Error())
			continue
		}
		own := o.OwnEndorsement != nil && o.OwnEndorsement(h.TxId, e.Endorser, et.Tx.ResponsePayload, e.Signature)
		if !own {
			if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainEndorsement, types.EndorsementMessage(et.Tx.ResponsePayload, e.Endorser), e.Signature); err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", id.Label(), err))
				continue
			}
		}
		endorsers = append(endorsers, id)
	}
	t.Endorsers = endorsers
	if err := pol.Evaluate(endorsers); err != nil {
		reason := err.Error()
		if len(bad) > 0 {
			reason += fmt.Sprintf("; rejected endorsements: %v", bad)
		}
		t.fail(foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE, "%s", reason)
		return t
	}
	if got := et.Response.Action.Contract.Version; got != want {
		t.fail(foliov1.ValidationCode_CONTRACT_VERSION_NOT_EFFECTIVE, "endorsed with %s version %q, but version %q is effective at block %d", contract, got, want, block)
		return t
	}
	if o.Config.Level() >= channel.CapabilityV3 {
		if code, reason := checkNotBefore(et.Response.Action.GetRwset(), bh); code != foliov1.ValidationCode_VALID {
			t.fail(code, "%s", reason)
			return t
		}
	}
	return t
}

// checkNotBefore enforces a contract's CommitNotBefore assertion against
// the orderer-signed timestamp of the block, the only time validation
// knows (DESIGN 6): a rule the contract checked at endorsement against the
// client-chosen proposal timestamp holds at commit too. A time at or
// before the Unix epoch cannot be asserted (0 means none), so a negative
// one is malformed.
func checkNotBefore(rw *foliov1.ReadWriteSet, bh *foliov1.BlockHeader) (foliov1.ValidationCode, string) {
	nb := rw.GetNotBeforeUnixNano()
	switch {
	case nb == 0:
		return foliov1.ValidationCode_VALID, ""
	case nb < 0:
		return foliov1.ValidationCode_BAD_RWSET, fmt.Sprintf("rwset: not-before time %d is before the Unix epoch", nb)
	case bh.TimestampUnixNano < nb:
		return foliov1.ValidationCode_TOO_EARLY, fmt.Sprintf("the contract allows this transaction to commit from %s; block %d is stamped %s (%s early)",
			stampNanos(nb), bh.Number, stampNanos(bh.TimestampUnixNano), time.Duration(nb-bh.TimestampUnixNano))
	}
	return foliov1.ValidationCode_VALID, ""
}

func stampNanos(n int64) string { return time.Unix(0, n).UTC().Format(time.RFC3339Nano) }

// lifecycleRules are the lifecycle rules in force at block.
func lifecycleRules(block uint64, o Options) lifecycle.Rules {
	// The peers in force at the block: who may record an install, whose
	// installs an activation counts (membership changes move them).
	r := lifecycle.Rules{ChannelID: o.ChannelID, Block: block, Capability: o.Config.Level(), Peers: o.Config.PeerMSPs()}
	if o.Config.Level() >= channel.CapabilityV4 {
		// The activation policy follows config updates from level 4 on;
		// below, it is the genesis one the registry holds (and the
		// configuration's is the same: it could not change).
		r.Activation, r.ActivationFromConfig = o.Config.ActivationPolicy(), true
	}
	return r
}

// envelopeCode classifies an envelope that types.ParseEnvelope refused.
func envelopeCode(env *foliov1.Envelope) foliov1.ValidationCode {
	var p foliov1.Payload
	if proto.Unmarshal(env.Payload, &p) != nil || p.Header == nil {
		return foliov1.ValidationCode_BAD_PAYLOAD
	}
	if h := p.Header; h.TxId != types.TxID(h.Nonce, h.Creator) {
		return foliov1.ValidationCode_BAD_PROPOSAL_TXID
	}
	return foliov1.ValidationCode_BAD_COMMON_HEADER
}

// checkNamespaces allows a contract to read and write only its own
// namespace; from capability level 4 on it may also have read the channel
// configuration in force (channel_orgs records it: organisations change
// then), and that read is checked for conflicts like any other.
func checkNamespaces(contract string, rw *foliov1.ReadWriteSet, level uint32) error {
	for _, ns := range rw.GetNsRwsets() {
		if ns.Namespace == contract {
			continue
		}
		if level >= channel.CapabilityV4 && ns.Namespace == channel.Namespace && len(ns.Writes) == 0 && len(ns.RangeReads) == 0 &&
			len(ns.Reads) == 1 && ns.Reads[0].Key == channel.UpdateKey {
			continue
		}
		return fmt.Errorf("contract %s touched namespace %q", contract, ns.Namespace)
	}
	return nil
}

// overlay holds the writes of earlier valid transactions of the block.
type overlay struct {
	writes map[string]map[string]*foliov1.Version // ns -> key -> version (nil version: deleted)
}

func newOverlay() *overlay { return &overlay{writes: map[string]map[string]*foliov1.Version{}} }

func (o *overlay) add(rw *foliov1.ReadWriteSet, ver *foliov1.Version) {
	for _, ns := range rw.GetNsRwsets() {
		m := o.writes[ns.Namespace]
		if m == nil {
			m = map[string]*foliov1.Version{}
			o.writes[ns.Namespace] = m
		}
		for _, w := range ns.Writes {
			if w.IsDelete {
				m[w.Key] = nil
			} else {
				m[w.Key] = ver
			}
		}
	}
}

func (o *overlay) lookup(ns, key string) (*foliov1.Version, bool) {
	v, ok := o.writes[ns][key]
	return v, ok
}

func checkMVCC(rw *foliov1.ReadWriteSet, st State, pending *overlay) (foliov1.ValidationCode, string, error) {
	for _, ns := range rw.GetNsRwsets() {
		for _, r := range ns.Reads {
			cur, ok := pending.lookup(ns.Namespace, r.Key)
			if ok {
				return foliov1.ValidationCode_MVCC_READ_CONFLICT, fmt.Sprintf("key %q of %s was written by an earlier transaction in this block", r.Key, ns.Namespace), nil
			}
			cur, err := st.Version(ns.Namespace, r.Key)
			if err != nil {
				return 0, "", err
			}
			if !sameVersion(cur, r.Version) {
				return foliov1.ValidationCode_MVCC_READ_CONFLICT, fmt.Sprintf("key %q of %s changed since it was read (read at %s, now %s)",
					r.Key, ns.Namespace, verString(r.Version), verString(cur)), nil
			}
		}
		for _, rr := range ns.RangeReads {
			code, reason, err := checkRange(ns.Namespace, rr, st, pending)
			if err != nil || code != foliov1.ValidationCode_VALID {
				return code, reason, err
			}
		}
	}
	return foliov1.ValidationCode_VALID, "", nil
}

// checkRange re-runs a range read against committed state plus the block's
// earlier writes and compares the keys and versions returned.
func checkRange(ns string, rr *foliov1.RangeRead, st State, pending *overlay) (foliov1.ValidationCode, string, error) {
	limit := 0
	if !rr.Exhausted {
		limit = len(rr.Reads)
	}
	committed, err := st.RangeKeys(ns, rr.StartKey, rr.EndKey, 0)
	if err != nil {
		return 0, "", err
	}
	merged := map[string]*foliov1.Version{}
	for _, kv := range committed {
		merged[kv.Key] = kv.Version
	}
	for k, v := range pending.writes[ns] {
		if k >= rr.StartKey && (rr.EndKey == "" || k < rr.EndKey) {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	phantom := func() (foliov1.ValidationCode, string, error) {
		return foliov1.ValidationCode_PHANTOM_READ_CONFLICT, fmt.Sprintf("range [%q, %q) of %s returns different keys now", rr.StartKey, rr.EndKey, ns), nil
	}
	if len(keys) != len(rr.Reads) {
		return phantom()
	}
	for i, r := range rr.Reads {
		if keys[i] != r.Key || !sameVersion(merged[keys[i]], r.Version) {
			return phantom()
		}
	}
	return foliov1.ValidationCode_VALID, "", nil
}

func sameVersion(a, b *foliov1.Version) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.BlockNum == b.BlockNum && a.TxNum == b.TxNum
}

func verString(v *foliov1.Version) string {
	if v == nil {
		return "absent"
	}
	return fmt.Sprintf("(block %d, tx %d)", v.BlockNum, v.TxNum)
}
