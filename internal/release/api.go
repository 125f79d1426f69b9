package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"connectrpc.com/connect"

	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// api is the peer's client API of the timed release (ReleaseService,
// api/folio/v1/release.proto), one file per group of RPCs: api_content.go
// (manifest and chunks), api_subscribe.go (subscription and progress),
// api_keys.go (key server, shares, status), api_plaintext.go (plaintext
// and probes). Every RPC opens the same way (open): the caller from the
// listener's authentication, then the release, loaded from the chain if
// needed. Errors carry connect codes (codeOf).
type api struct{ p *Peer }

var _ foliov1connect.ReleaseServiceHandler = (*api)(nil)

// API is the client API to serve on the peer's client listener, behind
// its mutual TLS, MSP check and limits:
// foliov1connect.NewReleaseServiceHandler(p.API(), options...).
func (p *Peer) API() foliov1connect.ReleaseServiceHandler { return &api{p: p} }

// errorf is a client API error with its code.
func errorf(code connect.Code, format string, args ...any) error {
	return connect.NewError(code, fmt.Errorf(format, args...))
}

// caller returns the label of the request's authenticated client.
func (a *api) caller(ctx context.Context) (string, error) {
	id, ok := a.p.o.Caller(ctx)
	if !ok {
		return "", errorf(connect.CodeUnauthenticated, "no authenticated client")
	}
	return id.Label(), nil
}

// open authenticates the caller and resolves the release rid, loading it
// from the chain if needed. A release this peer refuses is an error
// unless allowRefused (its status says why).
func (a *api) open(ctx context.Context, rid string, allowRefused bool) (string, *rel, error) {
	label, err := a.caller(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := wire.CheckRID(rid); err != nil {
		return "", nil, errorf(connect.CodeInvalidArgument, "%v", err)
	}
	r, err := a.p.release(ctx, rid)
	switch {
	case errors.Is(err, ErrUnknownRelease):
		return "", nil, errorf(connect.CodeNotFound, "%v", err)
	case err != nil:
		return "", nil, errorf(connect.CodeUnavailable, "%v", err)
	}
	if r.refused != "" && !allowRefused {
		return "", nil, errorf(connect.CodePermissionDenied, "%s refuses release %s: %s", a.p.name(), rid, r.refused)
	}
	return label, r, nil
}

// ownsClientName: a client name is the caller's label or label/name.
func ownsClientName(label, client string) bool {
	return client == label || strings.HasPrefix(client, label+"/")
}

// refuse answers a request refused at a limit and tells
// PeerOptions.Refused. Call it without holding a lock.
func (a *api) refuse(err *LimitError) error {
	a.p.log.Debug("request refused at a limit", "limit", err.Setting, "detail", err.Detail)
	a.p.o.Refused(err.Setting)
	return errorf(connect.CodeResourceExhausted, "%s (limit %s)", err.Detail, err.Setting)
}

// codeOf gives a role's error its client API code.
func codeOf(err error) error {
	var ce *connect.Error
	var le *LimitError
	switch {
	case err == nil, errors.As(err, &ce), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &le):
		return errorf(connect.CodeResourceExhausted, "%s (limit %s)", le.Detail, le.Setting)
	case errors.Is(err, syscall.ENOSPC):
		return errorf(connect.CodeResourceExhausted, "the peer's disk is full: %v", err)
	case errors.Is(err, wire.ErrMalformed), errors.Is(err, content.ErrCorrupt):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, ErrUnknownRelease):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, ErrRefused):
		return connect.NewError(connect.CodePermissionDenied, err)
	case errors.Is(err, ErrClientNameInUse):
		return connect.NewError(connect.CodeAlreadyExists, err)
	case errors.Is(err, errNotSubscribed), errors.Is(err, ErrTooEarly):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, ErrClockSkew):
		return connect.NewError(connect.CodeUnavailable, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}
