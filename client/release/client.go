package release

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	rc "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/identity"
)

// Errors callers branch on.
var (
	// ErrNotOwner: only the work's registered owner may release it.
	ErrNotOwner = errors.New("not the owner of the work")
	// ErrHashMismatch: the file is not the registered work.
	ErrHashMismatch = errors.New("the file's hash is not the work's registered content hash")
	// ErrBadTime: release time in the past, or end time not after it.
	ErrBadTime = errors.New("invalid release schedule")
	// ErrNoKey: the key could not be opened by the deadline.
	ErrNoKey = errors.New("the release key could not be opened")
	// ErrClientNameInUse: another fetch under the same client name is
	// subscribed at the edge (the edge answers already_exists).
	ErrClientNameInUse = errors.New("client name in use")
	// ErrReleaseExists: the work already has a release (Create without
	// Resume, or with times that are not the release's).
	ErrReleaseExists = errors.New("the work already has a release")
	// ErrBadOption: an option is out of its range (chunk size, threshold,
	// key servers); Create checks them before it reads or encrypts
	// anything.
	ErrBadOption = errors.New("invalid release option")
)

// Contract names.
const (
	ReleaseContract   = "release"
	CopyrightContract = "copyright"
)

// Contracts is the ledger access the SDK needs; *client.Gateway has it.
type Contracts interface {
	Evaluate(ctx context.Context, contract, function string, args ...[]byte) ([]byte, error)
	Submit(ctx context.Context, contract, function string, args [][]byte, o client.SubmitOptions) (*client.Result, error)
}

var _ Contracts = (*client.Gateway)(nil)

// Peer is a peer of the channel the client may talk to.
type Peer struct {
	Name   string
	Org    string
	NodeID string
	// API is the peer's client API address, host:port.
	API string
}

// Client acts as one identity towards a network.
type Client struct {
	// HTTP talks to peers' client APIs with mutual TLS as ID (e.g.
	// client.HTTPClient). Required.
	HTTP *http.Client
	// Gateway makes contract calls as ID (a *client.Gateway at the
	// identity's peer). Required.
	Gateway Contracts
	// ID is the signing identity. Required.
	ID *client.Identity
	// Roots are the consortium organisations' root CA certificates by MSP
	// ID (e.g. "Org1MSP"): Create checks every key server's certificate
	// against them before it encrypts a share to its key. Required for
	// Create.
	Roots map[string]*x509.Certificate
	// Peers lists the channel's peers. Required.
	Peers []Peer
	// Home names the peer used as origin (Create) and edge (Fetch);
	// default the first peer of ID's organisation.
	Home string
	// Logger receives progress notes. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// peer finds a channel peer by name.
func (c *Client) peer(name string) (Peer, error) {
	for _, p := range c.Peers {
		if p.Name == name {
			return p, nil
		}
	}
	return Peer{}, fmt.Errorf("no peer %q in the channel", name)
}

// home returns the client's home peer.
func (c *Client) home() (Peer, error) {
	if c.Home != "" {
		return c.peer(c.Home)
	}
	for _, p := range c.Peers {
		if p.Org == c.ID.Org() {
			return p, nil
		}
	}
	return Peer{}, fmt.Errorf("organisation %s has no peer: name one", c.ID.Org())
}

// verifier checks certificates against Roots (key servers' node
// certificates, in Create).
func (c *Client) verifier() (*identity.Verifier, error) {
	if len(c.Roots) == 0 {
		return nil, errors.New("release client: Roots is required to check the key servers' certificates")
	}
	orgs := make([]identity.Org, 0, len(c.Roots))
	for msp, root := range c.Roots {
		if root == nil {
			return nil, fmt.Errorf("release client: Roots[%q] is nil", msp)
		}
		name := msp
		if len(root.Subject.Organization) > 0 {
			name = root.Subject.Organization[0]
		}
		orgs = append(orgs, identity.Org{Name: name, MSPID: msp, Root: root})
	}
	return identity.NewVerifier(orgs, c.now)
}

// api is a peer's release API (ReleaseService) over HTTP with mutual TLS
// as ID. Responses are bounded (the largest is a manifest, which a peer
// takes only within its message limit) and not compressed: chunks and
// plaintext are ciphertext or media, which gzip only costs CPU on both
// ends (and the fairness of a release is a race for time).
func (c *Client) api(p Peer) foliov1connect.ReleaseServiceClient {
	return foliov1connect.NewReleaseServiceClient(c.HTTP, "https://"+p.API,
		connect.WithReadMaxBytes(maxAnswerBytes), connect.WithAcceptCompression("gzip", nil, nil))
}

// maxAnswerBytes bounds one message a peer sends.
const maxAnswerBytes = 16 << 20

// peerErr names the peer and the call in an error of a peer's API; the
// connect error stays in the chain (connect.CodeOf).
func peerErr(p Peer, what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s at %s: %w", what, p.Name, err)
}

// Work is the copyright record fields a release depends on.
type Work struct {
	ID          string `json:"id"`
	Owner       string `json:"owner"`
	ContentHash string `json:"content_hash"`
}

// work reads a work's copyright record.
func (c *Client) work(ctx context.Context, id string) (*Work, error) {
	raw, err := c.Gateway.Evaluate(ctx, CopyrightContract, "get", mustJSON(map[string]string{"id": id}))
	if err != nil {
		return nil, fmt.Errorf("work %s: %w", id, err)
	}
	var w Work
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("work %s: %w", id, err)
	}
	return &w, nil
}

// Lookup returns the release of a work by its current owner (or by owner,
// if given), with the shares already published on chain.
func (c *Client) Lookup(ctx context.Context, work, owner string) (*rc.View, *Work, error) {
	w, err := c.work(ctx, work)
	if err != nil {
		return nil, nil, err
	}
	if owner == "" {
		owner = w.Owner
	}
	raw, err := c.Gateway.Evaluate(ctx, ReleaseContract, rc.FnGet, mustJSON(rc.RefArgs{Work: work, Owner: owner}))
	if err != nil {
		return nil, w, fmt.Errorf("release of %s: %w", work, err)
	}
	var v rc.View
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, w, fmt.Errorf("release of %s: %w", work, err)
	}
	if err := v.Release.Validate(); err != nil {
		return nil, w, fmt.Errorf("release of %s: invalid record: %w", work, err)
	}
	if v.Release.ID != rc.ReleaseID(v.Release.Work, v.Release.Owner) {
		return nil, w, fmt.Errorf("release of %s: record ID does not match", work)
	}
	return &v, w, nil
}

// isConflict reports a contract 409 (already done).
func isConflict(err error) bool { return connect.CodeOf(err) == connect.CodeAlreadyExists }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
