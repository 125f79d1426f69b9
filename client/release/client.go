package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

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
	// ErrHTTP wraps an unexpected answer of a peer's release API.
	ErrHTTP = errors.New("release API")
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
	// HTTP talks to peers with mutual TLS as ID. Required.
	HTTP *http.Client
	// Gateway makes contract calls as ID (a *client.Gateway at the
	// identity's peer). Required.
	Gateway Contracts
	// ID is the signing identity. Required.
	ID *identity.SigningIdentity
	// MSP verifies key servers' certificates (consortium roots). Required
	// for Create.
	MSP *identity.Verifier
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
		if p.Org == c.ID.Org {
			return p, nil
		}
	}
	return Peer{}, fmt.Errorf("organisation %s has no peer: name one", c.ID.Org)
}

// HTTPError is a non-2xx answer of a release API.
type HTTPError struct {
	Peer   string
	Status int
	Msg    string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.Peer, e.Status, http.StatusText(e.Status), e.Msg)
}

func (e *HTTPError) Unwrap() error { return ErrHTTP }

// do calls a peer's release API; out, if not nil, receives the JSON answer.
func (c *Client) do(ctx context.Context, p Peer, method, path string, body []byte, out any) error {
	resp, err := c.send(ctx, p, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s at %s: %w", method, path, p.Name, err)
	}
	return nil
}

// send makes the request and checks the status; the caller closes the body.
func (c *Client) send(ctx context.Context, p Peer, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+p.API+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s at %s: %w", method, path, p.Name, err)
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, &HTTPError{Peer: p.Name, Status: resp.StatusCode, Msg: strings.TrimSpace(string(msg))}
	}
	return resp, nil
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
