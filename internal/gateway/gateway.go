// Package gateway is the client API of a peer (the Fabric Gateway model): a
// client talks to one peer, which evaluates queries, collects the
// endorsements a transaction's policy needs from peers of the required
// organisations (over the node sessions), checks they agree, forwards the
// signed transaction to the ordering service, and reports its commit status.
// One file per RPC.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/quota"
)

// Session protocols of the gateway's node-to-node calls.
const (
	EndorseProtocol   = "endorse"
	BroadcastProtocol = "broadcast"
)

// Node is a peer or orderer the gateway may call.
type Node struct {
	Name   string
	MSPID  string
	NodeID string
}

// Endorser is this peer's endorser (endorse.Endorser): the gateway checks
// and endorses proposals with it (ProposalEndorser, endorse.go) and runs
// queries on it (QueryRunner, evaluate.go). Implementations are safe for
// concurrent use.
type Endorser interface {
	ProposalEndorser
	QueryRunner
}

// MSP validates the identities that sign what the gateway receives
// (identity.Verifier): endorsers in endorsement responses, clients asking
// for a commit status. Implementations are safe for concurrent use.
type MSP interface {
	// ValidateSerialized parses SerializedIdentity bytes and validates
	// the certificate against its organisation.
	ValidateSerialized(b []byte) (*identity.Identity, error)
	// Admit adds the admission checks (a current revocation list) to a
	// validated identity.
	Admit(id *identity.Identity) error
}

// Options configure a Gateway. New calls EnsureDefaults and Validate.
type Options struct {
	ChannelID string
	// Self is this peer.
	Self Node
	// Caller, if set, returns the identity the TLS client certificate of a
	// request's connection proved; a query whose creator is that identity
	// skips the proposal signature check (endorse.CheckQueryFrom).
	// Default: none (every query's signature is checked).
	Caller func(ctx context.Context) (*identity.Identity, bool)
	// Endorser is this peer's endorser. Required.
	Endorser Endorser
	// Committer tells when transactions commit on this peer. Required.
	Committer CommitFinder
	// Height returns this peer's committed ledger height: a transaction
	// endorsed now commits at that block or later, so the endorsement
	// policy in force there names the organisations to ask. Required.
	Height func() uint64
	// Contracts gives each contract's endorsement policy. Required.
	Contracts EndorsementRules
	// MSP validates endorsers and commit-status clients. Required.
	MSP MSP
	// Host serves the endorse protocol to other gateways and, by default,
	// carries this gateway's calls to other nodes. Required.
	Host Host
	// EndorseClient asks other peers to endorse. Default: over Host.
	EndorseClient EndorserClient
	// OrderClient hands envelopes to orderers. Default: over Host.
	OrderClient OrdererClient
	// Sessions tells which nodes have a live session; a node without one
	// is tried last. Default: Host's sessions.
	Sessions SessionState
	// Peers lists every peer of the channel (this one included); Orderers
	// every orderer. Default: none (Endorse fails for every organisation
	// but this peer's, Submit with Unavailable).
	Peers    []Node
	Orderers []Node
	// EndorseTimeout bounds the collection of endorsements (disagreement
	// retries included). Each attempt at a peer of an organisation gets a
	// share of it: EndorseTimeout / (the organisation's peers), at least
	// MinAttemptTimeout; the next peer is asked when the share is used
	// up. Default 10s.
	EndorseTimeout time.Duration
	// SubmitTimeout bounds the hand-over to the orderers. Each orderer
	// gets SubmitTimeout / (number of orderers), at least
	// MinAttemptTimeout. Default 15s.
	SubmitTimeout time.Duration
	// MinAttemptTimeout is the least time one attempt at a node gets
	// before the next node is tried (within the totals above). Default 2s.
	MinAttemptTimeout time.Duration
	// CommitWaiters bounds the CommitStatus calls held open at once, and
	// CommitWaitersPerClient those of one identity. Defaults 16384, 1024.
	CommitWaiters          int
	CommitWaitersPerClient int
	// MaxCommitWait bounds one CommitStatus wait, whatever the caller's
	// deadline. Default 5m.
	MaxCommitWait time.Duration
	// Blocks wakes the reads that wait for this peer to reach a height
	// (EvaluateRequest.min_height, linearizable; reads.go). Default none:
	// such a read on a peer below the height fails at once as behind.
	Blocks BlockFeed
	// HeightClient asks the orderers their chain height for linearizable
	// reads. Default: over Host.
	HeightClient ChainHeightClient
	// ReadWaiters bounds the reads held open at once waiting for blocks
	// (or for the orderers' height), and ReadWaitersPerClient those of
	// one identity; reads that need no wait hold no slot. Defaults 4096,
	// 256.
	ReadWaiters          int
	ReadWaitersPerClient int
	// MaxReadWait bounds how long one read waits for this peer to reach
	// the height it needs, whatever the caller's deadline; then the read
	// fails as behind (CodeUnavailable) and the client asks another peer.
	// Default 5s.
	MaxReadWait time.Duration
	// Refused, if set, is told the setting behind each refusal by a limit
	// (the node counts them). Default: nobody is told.
	Refused func(setting string)
	// Logger is required.
	Logger *slog.Logger
}

// EnsureDefaults fills in the defaults of the fields left zero.
func (o *Options) EnsureDefaults() {
	if o.EndorseTimeout == 0 {
		o.EndorseTimeout = 10 * time.Second
	}
	if o.SubmitTimeout == 0 {
		o.SubmitTimeout = 15 * time.Second
	}
	if o.MinAttemptTimeout == 0 {
		o.MinAttemptTimeout = 2 * time.Second
	}
	if o.Host != nil {
		if o.EndorseClient == nil {
			o.EndorseClient = hostEndorser{o.Host}
		}
		if o.OrderClient == nil {
			o.OrderClient = hostOrderer{o.Host}
		}
		if o.Sessions == nil {
			o.Sessions = hostSessions{o.Host}
		}
		if o.HeightClient == nil {
			o.HeightClient = hostHeights{host: o.Host, channelID: o.ChannelID}
		}
	}
	if o.CommitWaiters <= 0 {
		o.CommitWaiters = 16384
	}
	if o.CommitWaitersPerClient <= 0 {
		o.CommitWaitersPerClient = 1024
	}
	if o.MaxCommitWait <= 0 {
		o.MaxCommitWait = 5 * time.Minute
	}
	if o.ReadWaiters <= 0 {
		o.ReadWaiters = 4096
	}
	if o.ReadWaitersPerClient <= 0 {
		o.ReadWaitersPerClient = 256
	}
	if o.MaxReadWait <= 0 {
		o.MaxReadWait = 5 * time.Second
	}
	if o.Refused == nil {
		o.Refused = func(string) {}
	}
}

// Validate reports the required fields missing and the durations that
// are negative.
func (o *Options) Validate() error {
	var missing []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Endorser", o.Endorser != nil}, {"Committer", o.Committer != nil}, {"Height", o.Height != nil},
		{"Contracts", o.Contracts != nil}, {"MSP", o.MSP != nil}, {"Host", o.Host != nil}, {"Logger", o.Logger != nil},
	} {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("gateway: %s required", strings.Join(missing, ", ")))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"EndorseTimeout", o.EndorseTimeout}, {"SubmitTimeout", o.SubmitTimeout}, {"MinAttemptTimeout", o.MinAttemptTimeout}} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("gateway: %s is negative (%s)", d.name, d.d))
		}
	}
	return errors.Join(errs...)
}

// Gateway serves GatewayService. Safe for concurrent use.
type Gateway struct {
	o       Options
	waiters *quota.Counter // commit-status waits held open
	readers *quota.Counter // reads waiting for blocks (reads.go)
	// members is the channel's peers and orderers as the configuration
	// in force lists them (SetNodes), with each peer's endorsement calls
	// under way.
	members atomic.Pointer[members]
	nextOrd atomic.Uint64
	now     func() time.Time // the clock of the health tracker (tests set it)

	// mu guards the health of the nodes this gateway calls. Held only
	// for the tracker's calls, never across I/O.
	mu struct {
		sync.Mutex
		health *health
		// orderer is the name of the orderer that accepted the latest
		// envelope ("" before the first): tried first while healthy.
		orderer string
	}
}

var _ foliov1connect.GatewayServiceHandler = (*Gateway)(nil)

// New builds a gateway and registers the endorse protocol on the host so
// other gateways can ask this peer to endorse.
func New(o Options) (*Gateway, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	g := newGateway(o)
	if err := o.Host.HandleCall(EndorseProtocol, g.serveEndorse); err != nil {
		return nil, err
	}
	return g, nil
}

// newGateway builds the gateway's state from complete options.
func newGateway(o Options) *Gateway {
	g := &Gateway{o: o, waiters: quota.New(o.CommitWaiters, o.CommitWaitersPerClient),
		readers: quota.New(o.ReadWaiters, o.ReadWaitersPerClient), now: time.Now}
	g.SetNodes(o.Peers, o.Orderers)
	g.mu.health = newHealth(healthBackoff, maxHealthBackoff)
	return g
}

// members is one version of the channel's node lists. Immutable.
type members struct {
	peers, orderers []Node
	inFlight        map[string]*atomic.Int64 // per peer: endorsement calls under way
}

// SetNodes replaces the channel's peers and orderers, when a config update
// changes them: later endorsements, submissions and height checks use the
// new lists; calls under way finish with the lists they started with.
func (g *Gateway) SetNodes(peers, orderers []Node) {
	old := g.members.Load()
	m := &members{peers: slices.Clone(peers), orderers: slices.Clone(orderers), inFlight: map[string]*atomic.Int64{}}
	for _, p := range peers {
		if old != nil && old.inFlight[p.Name] != nil {
			m.inFlight[p.Name] = old.inFlight[p.Name]
		} else {
			m.inFlight[p.Name] = new(atomic.Int64)
		}
	}
	g.members.Store(m)
}

func (g *Gateway) peers() []Node       { return g.members.Load().peers }
func (g *Gateway) ordererList() []Node { return g.members.Load().orderers }

// serveEndorse answers another gateway's endorsement request.
func (g *Gateway) serveEndorse(ctx context.Context, from p2p.PeerIdentity, req []byte) []byte {
	var sp foliov1.SignedProposal
	reply := &foliov1.EndorseReply{}
	if err := proto.Unmarshal(req, &sp); err != nil {
		reply.Result = &foliov1.EndorseReply_Error{Error: &foliov1.CallError{Code: uint32(connect.CodeInvalidArgument), Message: "undecodable proposal: " + err.Error()}}
	} else if resp, err := g.o.Endorser.Endorse(ctx, &sp); err != nil {
		reply.Result = &foliov1.EndorseReply_Error{Error: &foliov1.CallError{Code: uint32(endorseCode(err)), Message: err.Error()}}
	} else {
		reply.Result = &foliov1.EndorseReply_Response{Response: resp}
	}
	out, _ := proto.Marshal(reply)
	return out
}

// endorseCode maps endorser errors to RPC codes.
func endorseCode(err error) connect.Code {
	switch {
	case errors.Is(err, endorse.ErrBadProposal):
		return connect.CodeInvalidArgument
	case errors.Is(err, endorse.ErrNotAuthorized):
		return connect.CodePermissionDenied
	case errors.Is(err, endorse.ErrAlreadyCommitted):
		return connect.CodeAlreadyExists
	case errors.Is(err, endorse.ErrUnhealthy):
		return connect.CodeUnavailable // this peer stopped endorsing; others can
	case errors.Is(err, endorse.ErrUnavailable):
		return connect.CodeFailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded
	}
	return connect.CodeInternal
}

// statusCode maps a contract's HTTP-like status to an RPC code.
func statusCode(status int32) connect.Code {
	switch {
	case status == 400:
		return connect.CodeInvalidArgument
	case status == 401 || status == 403:
		return connect.CodePermissionDenied
	case status == 404:
		return connect.CodeNotFound
	case status == 409:
		return connect.CodeAlreadyExists
	case status >= 400 && status < 500:
		return connect.CodeFailedPrecondition
	}
	return connect.CodeInternal
}

// candidates returns the peers of an MSP in the order to try: this peer
// first, then the least busy, reordered by health (rank): peers without a
// session or that failed recently come last.
func (g *Gateway) candidates(mspID string) []candidate {
	var out []Node
	for _, p := range g.peers() {
		if p.MSPID == mspID {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].Name == g.o.Self.Name) != (out[j].Name == g.o.Self.Name) {
			return out[i].Name == g.o.Self.Name
		}
		return g.busy(out[i]) < g.busy(out[j])
	})
	return g.rank(out, g.now())
}

func (g *Gateway) busy(p Node) int64 {
	if n := g.members.Load().inFlight[p.Name]; n != nil {
		return n.Load()
	}
	return 0
}

// endorseAt asks one peer (this one in-process, others through
// EndorseClient). Errors are *connect.Error.
func (g *Gateway) endorseAt(ctx context.Context, p Node, sp *foliov1.SignedProposal) (*foliov1.ProposalResponse, error) {
	if n := g.members.Load().inFlight[p.Name]; n != nil {
		n.Add(1)
		defer n.Add(-1)
	}
	if p.Name == g.o.Self.Name {
		resp, err := g.o.Endorser.Endorse(ctx, sp)
		if err != nil {
			return nil, connect.NewError(endorseCode(err), err)
		}
		return resp, nil
	}
	resp, err := g.o.EndorseClient.Endorse(ctx, p, sp)
	if err != nil {
		if connect.CodeOf(err) == connect.CodeUnknown {
			err = connect.NewError(connect.CodeUnavailable, err)
		}
		return nil, err
	}
	return resp, nil
}

// parallel runs f for each item concurrently and waits.
func parallel[T any](items []T, f func(T)) {
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		go func(it T) {
			defer wg.Done()
			f(it)
		}(it)
	}
	wg.Wait()
}
