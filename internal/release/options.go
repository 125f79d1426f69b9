package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
)

// PeerOptions configure the release service of a peer. Zero values take
// the documented defaults (EnsureDefaults); Validate reports what is still
// missing.
type PeerOptions struct {
	// Self is the peer's signing identity (node key). Required.
	Self *identity.SigningIdentity
	// MSP is the consortium's identity verifier. Required.
	MSP *identity.Verifier
	// Host carries the "content" and "keys" protocols; StartPeer registers
	// them, so it must run before Host.Run. Required.
	Host *p2p.Host
	// Caller returns the MSP-validated client of a client API request
	// (the identity of its TLS client certificate, set by the listener's
	// authentication). Required.
	Caller func(context.Context) (*identity.Identity, bool)
	// Channel is the channel configuration (peers, organisations). Required.
	Channel *foliov1.ChannelConfig
	// Gateway is this peer's gateway; the service evaluates (and, where the
	// endorsers allow it, submits) release and copyright transactions
	// through it in-process, as Self. Required unless Chain is set.
	Gateway foliov1connect.GatewayServiceHandler
	// Chain replaces Gateway (tests). Default: built from Gateway.
	Chain Chain
	// DataDir holds the content store, the key-agreement key and the
	// client rate histories (<data_dir>/release). Required.
	DataDir string
	// Logger receives structured logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now (tests inject skew).
	Now func() time.Time

	// PollInterval is how often the chain is polled for releases this peer
	// has not been told about. Default 2s.
	PollInterval time.Duration
	// FetchWorkers is the number of chunks fetched in parallel from other
	// peers. Default 4.
	FetchWorkers int
	// CoordLead is how long before the release time key servers start
	// coordinating the key send time. Default 30s.
	CoordLead time.Duration
	// CoordInterval is the period of coordination rounds. Default 1s.
	CoordInterval time.Duration
	// Freeze: the agreed send time no longer moves once it is this close.
	// Default 500ms.
	Freeze time.Duration
	// MaxClockSkew is the largest median clock offset to the other peers
	// at which this peer still sends or forwards keys. Default 500ms.
	MaxClockSkew time.Duration
	// ClockInterval is how often clocks are compared. Default 5s.
	ClockInterval time.Duration
	// MaxEdgeLead bounds how long before the key send time a key server
	// gives its share to a trusted edge. Default 2h.
	MaxEdgeLead time.Duration
	// ReadyFraction of subscribed clients must have the ciphertext before
	// the key is sent after the release time. Default 1.
	ReadyFraction float64
	// PingInterval is how often subscribed clients are pinged (round trip
	// probe and keepalive). Default 2s.
	PingInterval time.Duration
	// CallTimeout bounds one node-to-node call. Default 10s.
	CallTimeout time.Duration

	// Per-client state and its limits (docs/release.md, "Per-client state
	// and its limits"). A subscription beyond a limit is refused with
	// resource_exhausted and a LimitError naming the node configuration
	// setting that raises it, given here with each field; Refused is told.
	// Zero or negative values take the default.

	// MaxSubscriptionsPerClient bounds the subscriptions (distinct client
	// names) one authenticated identity holds in one release at this peer:
	// a caller may subscribe as its label and as label/NAME for any NAME.
	// Setting release.max_subscriptions_per_client. Default 16.
	MaxSubscriptionsPerClient int
	// MaxSubscriptions bounds the subscriptions of one release at this
	// peer, all callers together. Setting release.max_subscriptions.
	// Default 10,000.
	MaxSubscriptions int
	// SubscriptionTTL: a subscription with no open stream (subscribe or
	// plaintext request) and no progress report for this long is deleted,
	// freeing its slot; one with an open stream never is. At least
	// 3 x PingInterval (the time after which the key servers stop waiting
	// for a client that went away). Setting release.subscription_ttl.
	// Default 10 x PingInterval.
	SubscriptionTTL time.Duration
	// MaxHistoryClients bounds the clients whose rate histories are kept
	// (<data_dir>/release/clients.json); when full, the least recently
	// updated is evicted. Setting release.max_history_clients. Default
	// 10,000.
	MaxHistoryClients int
	// HistoryTTL: a client's rate history not updated for this long is
	// dropped, at start and periodically. Setting release.history_ttl.
	// Default 30 days (720h).
	HistoryTTL time.Duration
	// Refused is called with the setting name of the limit
	// (LimitSubscriptionsPerClient or LimitSubscriptions) each time a
	// request is refused for reaching it; the node counts these in
	// folio_limit_refusals_total{limit}. Called outside the service's
	// locks, possibly concurrently. Default: nothing.
	Refused func(limit string)
}

// EnsureDefaults fills unset fields with their defaults.
func (o *PeerOptions) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Chain == nil && o.Gateway != nil && o.Self != nil && o.Channel != nil {
		o.Chain = &gatewayChain{gw: o.Gateway, self: o.Self, channel: o.Channel.ChannelId}
	}
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.PollInterval, 2*time.Second)
	def(&o.CoordLead, 30*time.Second)
	def(&o.CoordInterval, time.Second)
	def(&o.Freeze, 500*time.Millisecond)
	def(&o.MaxClockSkew, 500*time.Millisecond)
	def(&o.ClockInterval, 5*time.Second)
	def(&o.MaxEdgeLead, 2*time.Hour)
	def(&o.PingInterval, 2*time.Second)
	def(&o.CallTimeout, 10*time.Second)
	def(&o.SubscriptionTTL, 10*o.PingInterval)
	def(&o.HistoryTTL, 30*24*time.Hour)
	defInt := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defInt(&o.MaxSubscriptionsPerClient, 16)
	defInt(&o.MaxSubscriptions, 10_000)
	defInt(&o.MaxHistoryClients, 10_000)
	if o.Refused == nil {
		o.Refused = func(string) {}
	}
	defInt(&o.FetchWorkers, 4)
	if o.ReadyFraction <= 0 || o.ReadyFraction > 1 {
		o.ReadyFraction = 1
	}
}

// Validate reports missing required fields and inconsistent settings.
func (o *PeerOptions) Validate() error {
	var errs []error
	if o.SubscriptionTTL < 3*o.PingInterval {
		errs = append(errs, fmt.Errorf("release: %s %s is shorter than 3 x the ping interval (%s): a client between two connections would lose its subscription while the key servers still wait for it",
			LimitSubscriptionTTL, o.SubscriptionTTL, 3*o.PingInterval))
	}
	if o.Self == nil {
		errs = append(errs, errors.New("release: Self is required"))
	}
	if o.MSP == nil {
		errs = append(errs, errors.New("release: MSP is required"))
	}
	if o.Host == nil {
		errs = append(errs, errors.New("release: Host is required"))
	}
	if o.Caller == nil {
		errs = append(errs, errors.New("release: Caller is required"))
	}
	if o.Channel == nil {
		errs = append(errs, errors.New("release: Channel is required"))
	}
	if o.Chain == nil {
		errs = append(errs, errors.New("release: Gateway or Chain is required"))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("release: DataDir is required"))
	}
	return errors.Join(errs...)
}
