package releasetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contract/contracttest"
	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/identity"
)

// Chain is an in-memory ledger running the release contract natively and
// a copyright stub (get of registered works). Safe for concurrent use: mu
// serialises every call.
type Chain struct {
	// Now is the transaction clock. Default time.Now.
	Now func() time.Time
	// RefusePeers makes submissions by peer identities fail as the real
	// endorsers do (only clients and admins invoke contracts).
	RefusePeers bool

	mu struct {
		sync.Mutex
		l     *contracttest.Ledger
		works map[string]Work
		// changed is closed (and replaced) at every commit.
		changed chan struct{}
	}
	router *contract.Router
}

// Work is a registered work as the copyright stub answers get.
type Work struct {
	ID          string `json:"id"`
	Owner       string `json:"owner"`
	ContentHash string `json:"content_hash"`
}

// NewChain returns an empty ledger.
func NewChain() *Chain {
	c := &Chain{router: release.New()}
	c.mu.l = contracttest.NewLedger("release")
	c.mu.works = map[string]Work{}
	c.mu.changed = make(chan struct{})
	return c
}

// Changed returns a channel closed at the next successful commit.
func (c *Chain) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.changed
}

// Register records a work in the copyright stub.
func (c *Chain) Register(w Work) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.works[w.ID] = w
	close(c.mu.changed)
	c.mu.changed = make(chan struct{})
}

func (c *Chain) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func codeOf(status int32) connect.Code {
	switch {
	case status == 400:
		return connect.CodeInvalidArgument
	case status == 403:
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

func creator(id *identity.SigningIdentity) contract.Identity {
	return contract.Identity{MSPID: id.MSPID, Org: id.Org, Name: id.Name, Role: string(id.Role)}
}

func (c *Chain) call(id *identity.SigningIdentity, contractName, fn string, args [][]byte, readOnly bool) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch contractName {
	case "copyright":
		if fn != "get" || len(args) != 1 {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("copyright stub: only get"))
		}
		var a struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(args[0], &a)
		w, ok := c.mu.works[a.ID]
		if !ok {
			return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("work %q is not registered", a.ID))
		}
		return json.Marshal(w)
	case "release":
	default:
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("contract %q not defined", contractName))
	}
	if !readOnly && c.RefusePeers && id.Role == identity.RolePeer {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("not authorized: %s is a peer; only clients and admins may invoke contracts", id.Label()))
	}
	txb := make([]byte, 32)
	rand.Read(txb)
	call := contracttest.Call{Function: fn, Args: args, Creator: creator(id), TxID: hex.EncodeToString(txb), Timestamp: c.now(), ReadOnly: readOnly}
	var res contracttest.Result
	if readOnly {
		res = c.mu.l.Simulate(c.router, call)
	} else {
		res = c.mu.l.Invoke(c.router, call)
	}
	if st := res.Response.Status; st < 200 || st > 299 {
		return nil, connect.NewError(codeOf(st), fmt.Errorf("%s.%s: %s (status %d)", contractName, fn, res.Response.Message, st))
	}
	if !readOnly {
		close(c.mu.changed)
		c.mu.changed = make(chan struct{})
	}
	return res.Response.Payload, nil
}

// As returns the chain as seen by one identity: the peer side's
// release.Chain and the SDK's Contracts at once.
func (c *Chain) As(id *identity.SigningIdentity) *As { return &As{c: c, id: id} }

// As is the chain for one identity.
type As struct {
	c  *Chain
	id *identity.SigningIdentity
}

// Evaluate runs a query (both interfaces: one argument).
func (a *As) Evaluate(_ context.Context, contract, function string, args ...[]byte) ([]byte, error) {
	return a.c.call(a.id, contract, function, args, true)
}

// Submit commits a call (the SDK's signature).
func (a *As) Submit(_ context.Context, contract, function string, args [][]byte, _ client.SubmitOptions) (*client.Result, error) {
	out, err := a.c.call(a.id, contract, function, args, false)
	if err != nil {
		return nil, err
	}
	return &client.Result{Code: foliov1.ValidationCode_VALID, Payload: out, Attempts: 1}, nil
}

// PeerChain adapts As to internal/release.Chain.
type PeerChain struct{ *As }

// Evaluate runs a query.
func (p PeerChain) Evaluate(ctx context.Context, contract, function string, arg []byte) ([]byte, error) {
	return p.As.Evaluate(ctx, contract, function, arg)
}

// Submit commits a call.
func (p PeerChain) Submit(ctx context.Context, contract, function string, arg []byte) error {
	_, err := p.As.Submit(ctx, contract, function, [][]byte{arg}, client.SubmitOptions{})
	return err
}
