package endorse

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/types"
)

// Errors callers branch on (the gateway maps them to RPC codes).
var (
	ErrBadProposal      = errors.New("bad proposal")
	ErrNotAuthorized    = errors.New("not authorized")
	ErrAlreadyCommitted = errors.New("transaction already committed")
	ErrUnavailable      = errors.New("contract unavailable on this peer")
	// ErrUnhealthy: the peer refuses to simulate because Options.Healthy
	// reported a problem (its state diverged from the other peers', or it
	// saw two blocks signed for one height). Such an error also matches
	// ErrUnavailable, so callers that fail over from a peer that cannot
	// run a contract fail over from an unhealthy one too; a caller that
	// maps errors to RPC codes maps it to Unavailable.
	ErrUnhealthy = errors.New("peer unhealthy")
)

// unhealthyError is Options.Healthy's refusal: its message, matching
// ErrUnhealthy and ErrUnavailable.
type unhealthyError struct{ err error }

func (u *unhealthyError) Error() string { return u.err.Error() }
func (u *unhealthyError) Unwrap() error { return u.err }
func (u *unhealthyError) Is(target error) bool {
	return target == ErrUnhealthy || target == ErrUnavailable
}

// Executor runs contract calls (the enclave, or the VM in-process).
type Executor interface {
	// Install makes a contract version runnable. Installing the same
	// version again is a no-op.
	Install(ctx context.Context, name, version string, wasm []byte, confidential bool) error
	// Simulate runs a call with the named version against the latest
	// committed state without changing anything.
	Simulate(ctx context.Context, version string, call abi.Call) (*vm.Result, error)
}

// TxIndex answers whether a transaction is already committed.
type TxIndex interface {
	HasTx(txID string) (bool, error)
}

// Options configure an Endorser.
type Options struct {
	ChannelID string
	Self      *identity.SigningIdentity
	MSP       *identity.Verifier
	Contracts *lifecycle.Registry
	Exec      Executor
	Committed TxIndex
	// Height returns the number of committed blocks: a proposal endorsed now
	// commits in block Height() or later.
	Height func() uint64
	// TimeWindow bounds how far a proposal's timestamp may be from this
	// peer's clock. Default 5 minutes.
	TimeWindow time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
	// Healthy, if set, is asked before every simulation (endorsements and
	// queries): a non-nil error refuses it with that message (ErrUnhealthy).
	Healthy func() error
}

// Endorser checks and simulates proposals. Safe for concurrent use.
type Endorser struct {
	o Options

	mu struct {
		sync.Mutex
		// installed records the contract versions handed to the executor;
		// a version's package never changes, so it is read and hashed once.
		installed map[string]bool
		// signed remembers the payload hash and the exact signature this
		// endorser produced per tx ID
		// (bounded, oldest dropped first), so the committer can skip
		// verifying this peer's own endorsements.
		signed      map[string]ownEndorsement
		signedOrder []string
	}
}

// rememberedEndorsements bounds Endorser.Endorsed's memory.
const rememberedEndorsements = 1 << 16

// New returns an endorser.
func New(o Options) (*Endorser, error) {
	if o.Self == nil || o.MSP == nil || o.Contracts == nil || o.Exec == nil || o.Committed == nil || o.Height == nil || o.Logger == nil {
		return nil, errors.New("endorse: Self, MSP, Contracts, Exec, Committed, Height and Logger are required")
	}
	if o.TimeWindow == 0 {
		o.TimeWindow = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Endorser{o: o}
	e.mu.installed = map[string]bool{}
	e.mu.signed = map[string]ownEndorsement{}
	return e, nil
}

// ensureInstalled hands a contract version to the executor once.
func (e *Endorser) ensureInstalled(ctx context.Context, def *lifecycle.Definition) error {
	key := def.Name + "/" + def.Version
	e.mu.Lock()
	done := e.mu.installed[key]
	e.mu.Unlock()
	if done {
		return nil
	}
	wasm, err := e.o.Contracts.Package(def)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := e.o.Exec.Install(ctx, def.Name, def.Version, wasm, def.Confidential); err != nil {
		return fmt.Errorf("%w: install %s version %s: %v", ErrUnavailable, def.Name, def.Version, err)
	}
	e.mu.Lock()
	e.mu.installed[key] = true
	e.mu.Unlock()
	return nil
}

// Preload hands the executor every contract version in force for the next
// block whose package this peer holds, so the first proposal does not wait
// for a module to compile. It returns the errors of those that failed.
func (e *Endorser) Preload(ctx context.Context) error {
	var errs []error
	for _, name := range e.o.Contracts.Names() {
		def, err := e.o.Contracts.Effective(name, e.o.Height())
		if err != nil || !e.o.Contracts.HasPackage(def) {
			continue // not in force yet, or halted: reported elsewhere
		}
		if err := e.ensureInstalled(ctx, def); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Checked is a proposal that passed the checks.
type Checked struct {
	Signed   *foliov1.SignedProposal
	Proposal *foliov1.Proposal
	Creator  *identity.Identity
}

// Check verifies a signed proposal without running it.
func (e *Endorser) Check(sp *foliov1.SignedProposal, query bool) (*Checked, error) {
	return e.check(sp, query, nil)
}

// CheckQueryFrom checks a query proposal that arrived over a mutually
// authenticated TLS connection whose client certificate is conn. When conn
// is the proposal's creator certificate, the TLS handshake already proved
// that the caller holds the creator's key, so the proposal signature is not
// verified again: a query is neither recorded nor forwarded, and its
// signature would only add non-repudiation that nobody keeps. Otherwise
// (conn nil or another certificate) it is Check(sp, true).
func (e *Endorser) CheckQueryFrom(sp *foliov1.SignedProposal, conn *x509.Certificate) (*Checked, error) {
	return e.check(sp, true, conn)
}

func (e *Endorser) check(sp *foliov1.SignedProposal, query bool, conn *x509.Certificate) (*Checked, error) {
	p, err := types.ParseSignedProposal(sp)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadProposal, err)
	}
	h := p.Header
	if h.ChannelId != e.o.ChannelID {
		return nil, fmt.Errorf("%w: proposal for channel %q, this peer serves %q", ErrBadProposal, h.ChannelId, e.o.ChannelID)
	}
	creator, err := e.o.MSP.ValidateSerialized(h.Creator)
	if err == nil {
		err = e.o.MSP.Admit(creator)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: creator: %v", ErrNotAuthorized, err)
	}
	if authenticated := query && conn != nil && bytes.Equal(conn.Raw, creator.Cert.Raw); !authenticated {
		if err := fcrypto.Verify(creator.Cert.PublicKey, types.DomainProposal, sp.ProposalBytes, sp.Signature); err != nil {
			return nil, fmt.Errorf("%w: proposal signature of %s: %v", ErrNotAuthorized, creator.Label(), err)
		}
	}
	at := time.Unix(0, h.TimestampUnixNano)
	if d := e.o.Now().Sub(at); d > e.o.TimeWindow || d < -e.o.TimeWindow {
		return nil, fmt.Errorf("%w: proposal made at %s, more than %s from this peer's clock: check the client's clock", ErrBadProposal, at.UTC().Format(time.RFC3339), e.o.TimeWindow)
	}
	if !query {
		if creator.Role != identity.RoleClient && creator.Role != identity.RoleAdmin {
			return nil, fmt.Errorf("%w: %s is a %s; only clients and admins may invoke contracts", ErrNotAuthorized, creator.Label(), creator.Role)
		}
		done, err := e.o.Committed.HasTx(h.TxId)
		if err != nil {
			return nil, err
		}
		if done {
			return nil, fmt.Errorf("%w: %s", ErrAlreadyCommitted, h.TxId)
		}
	}
	return &Checked{Signed: sp, Proposal: p, Creator: creator}, nil
}

// Run simulates a checked proposal with the contract version in force for
// the next block. It refuses (ErrUnhealthy) while Options.Healthy reports
// a problem.
func (e *Endorser) Run(ctx context.Context, c *Checked, query bool) (*vm.Result, *lifecycle.Definition, error) {
	if e.o.Healthy != nil {
		if err := e.o.Healthy(); err != nil {
			return nil, nil, &unhealthyError{err}
		}
	}
	inv := c.Proposal.Invocation
	def, err := e.o.Contracts.Effective(inv.Contract, e.o.Height())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := e.ensureInstalled(ctx, def); err != nil {
		return nil, nil, err
	}
	h := c.Proposal.Header
	call := abi.Call{TxID: h.TxId, Timestamp: time.Unix(0, h.TimestampUnixNano).UTC(), ChannelID: h.ChannelId, Namespace: inv.Contract,
		Function: inv.Function, Args: inv.Args, ReadOnly: query,
		Creator: abi.Identity{MSPID: c.Creator.MSPID, Org: c.Creator.Org, Name: c.Creator.Name, Role: string(c.Creator.Role),
			CertPEM: fcrypto.EncodeCertificatePEM(c.Creator.Cert.Raw)}}
	res, err := e.o.Exec.Simulate(ctx, def.Version, call)
	if err != nil {
		return nil, nil, fmt.Errorf("simulate %s.%s: %w", inv.Contract, inv.Function, err)
	}
	return res, def, nil
}

// Query runs a checked query (Run with query set) and returns only the
// contract's response, whatever its status: what the gateway's Evaluate
// needs, without the simulation's read/write set or definition.
func (e *Endorser) Query(ctx context.Context, c *Checked) (*foliov1.Response, error) {
	res, _, err := e.Run(ctx, c, true)
	if err != nil {
		return nil, err
	}
	return res.Response, nil
}

// Endorse checks, simulates and, if the contract succeeded, signs.
func (e *Endorser) Endorse(ctx context.Context, sp *foliov1.SignedProposal) (*foliov1.ProposalResponse, error) {
	c, err := e.Check(sp, false)
	if err != nil {
		return nil, err
	}
	res, _, err := e.Run(ctx, c, false)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(sp.ProposalBytes)
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.ProposalResponsePayload{ProposalHash: sum[:], Action: res.Action()})
	if err != nil {
		return nil, fmt.Errorf("encode response payload: %w", err)
	}
	out := &foliov1.ProposalResponse{Response: res.Response, Payload: payload}
	if st := res.Response.GetStatus(); st < 200 || st > 299 {
		return out, nil // the contract refused: nothing to endorse
	}
	me := e.o.Self.Serialized()
	sig, err := e.o.Self.Sign(types.DomainEndorsement, types.EndorsementMessage(payload, me))
	if err != nil {
		return nil, err
	}
	out.Endorsement = &foliov1.Endorsement{Endorser: me, Signature: sig}
	e.remember(c.Proposal.Header.TxId, payload, sig)
	return out, nil
}

// ownEndorsement is what this peer signed for a transaction.
type ownEndorsement struct {
	payload   [32]byte
	signature []byte
}

func (e *Endorser) remember(txID string, payload, sig []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.mu.signed[txID]; !ok {
		e.mu.signedOrder = append(e.mu.signedOrder, txID)
		if len(e.mu.signedOrder) > rememberedEndorsements {
			delete(e.mu.signed, e.mu.signedOrder[0])
			e.mu.signedOrder = e.mu.signedOrder[1:]
		}
	}
	e.mu.signed[txID] = ownEndorsement{payload: sha256.Sum256(payload), signature: bytes.Clone(sig)}
}

// Endorsed reports whether this peer itself produced exactly signature,
// as endorser, over exactly payload for txID: then verifying that
// signature could only succeed (this key made these bytes over this
// message), so the validator may skip it. Any other signature bytes, even
// one that would also verify, is verified as usual.
func (e *Endorser) Endorsed(txID string, endorser, payload, signature []byte) bool {
	if !bytes.Equal(endorser, e.o.Self.Serialized()) {
		return false
	}
	e.mu.Lock()
	own, ok := e.mu.signed[txID]
	e.mu.Unlock()
	return ok && own.payload == sha256.Sum256(payload) && bytes.Equal(own.signature, signature)
}
