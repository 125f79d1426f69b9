package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/p2p"
)

// TestServeEndorse: New registers the endorse protocol; another gateway's
// request is answered with this peer's response or its error and code,
// and undecodable input gets an error reply, not a crash.
func TestServeEndorse(t *testing.T) {
	f := &fakePeers{self: "peer0.org1"}
	host := &fakeHost{}
	o := Options{Self: txChannel[0], Peers: txChannel, Endorser: localEndorser{f}, Committer: newFakeCommits(),
		Height: func() uint64 { return 1 }, Contracts: rules{}, MSP: newFakeMSP(txChannel), Host: host, Logger: quiet}
	if _, err := New(o); err != nil {
		t.Fatal(err)
	}
	serve := host.handlers[EndorseProtocol]
	if serve == nil {
		t.Fatal("the endorse protocol is not registered")
	}
	ask := func(req []byte) *foliov1.EndorseReply {
		t.Helper()
		var r foliov1.EndorseReply
		if err := proto.Unmarshal(serve(context.Background(), p2p.PeerIdentity{Name: "peer0.org2"}, req), &r); err != nil {
			t.Fatalf("undecodable reply: %v", err)
		}
		return &r
	}
	sp, err := proto.Marshal(proposal(t, "transfer"))
	if err != nil {
		t.Fatal(err)
	}
	if r := ask(sp); r.GetResponse().GetEndorsement() == nil || string(r.GetResponse().GetEndorsement().Endorser) != "peer0.org1" {
		t.Fatalf("reply %v, want peer0.org1's endorsement", r)
	}
	f.script("peer0.org1", reply{err: fmt.Errorf("%w: creator revoked", endorse.ErrNotAuthorized)})
	if e := ask(sp).GetError(); e == nil || connect.Code(e.Code) != connect.CodePermissionDenied || !strings.Contains(e.Message, "creator revoked") {
		t.Fatalf("refusal: %v", e)
	}
	if e := ask([]byte{0xff, 0x01}).GetError(); e == nil || connect.Code(e.Code) != connect.CodeInvalidArgument || !strings.Contains(e.Message, "undecodable proposal") {
		t.Fatalf("garbage: %v", e)
	}
	// A second gateway on the same host cannot take the protocol over.
	if _, err := New(o); err == nil {
		t.Fatal("registering the endorse protocol twice succeeded")
	}
}

// TestHostClients: the default EndorserClient and OrdererClient over the
// node sessions turn every reply and failure into the documented
// *connect.Error.
func TestHostClients(t *testing.T) {
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	resp := &foliov1.ProposalResponse{Response: &foliov1.Response{Status: 200}, Payload: []byte("result")}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		raw      []byte // the reply; ignored when err is set
		err      error  // Host.Call's error
		wantCode connect.Code
		wantMsg  string
	}{
		{name: "endorsement", raw: marshal(&foliov1.EndorseReply{Result: &foliov1.EndorseReply_Response{Response: resp}})},
		{name: "the peer's error keeps its code", raw: marshal(&foliov1.EndorseReply{Result: &foliov1.EndorseReply_Error{Error: &foliov1.CallError{Code: uint32(connect.CodePermissionDenied), Message: "revoked"}}}),
			wantCode: connect.CodePermissionDenied, wantMsg: "revoked"},
		{name: "empty reply", raw: marshal(&foliov1.EndorseReply{}), wantCode: connect.CodeUnavailable, wantMsg: "empty endorse reply"},
		{name: "undecodable reply", raw: []byte{0xff, 0xff}, wantCode: connect.CodeUnavailable, wantMsg: "undecodable endorse reply"},
		{name: "unreachable", err: errors.New("no session to node"), wantCode: connect.CodeUnavailable, wantMsg: "no session"},
		{name: "deadline", err: context.DeadlineExceeded, wantCode: connect.CodeDeadlineExceeded},
		{name: "caller left", ctx: cancelled, err: context.Canceled, wantCode: connect.CodeCanceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := &fakeHost{call: func(_ context.Context, nodeID, protocol string, _ []byte) ([]byte, error) {
				if nodeID != "id-peer0.org2" || protocol != EndorseProtocol {
					return nil, fmt.Errorf("called %s on %s", protocol, nodeID)
				}
				return tc.raw, tc.err
			}}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			got, err := hostEndorser{host}.Endorse(ctx, node("peer0.org2", "Org2MSP"), proposal(t, "transfer"))
			if connect.CodeOf(err) != tc.wantCode && !(err == nil && tc.wantCode == 0) {
				t.Fatalf("got %v, want code %v", err, tc.wantCode)
			}
			if err != nil && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %q lacks %q", err, tc.wantMsg)
			}
			if err == nil && string(got.Payload) != "result" {
				t.Fatalf("response %v", got)
			}
		})
	}

	for _, tc := range []struct {
		name     string
		raw      []byte
		err      error
		wantCode connect.Code
	}{
		{"admitted", marshal(&foliov1.BroadcastReply{}), nil, 0},
		{"already ordered", marshal(&foliov1.BroadcastReply{Result: &foliov1.BroadcastReply_Error{Error: &foliov1.CallError{Code: uint32(connect.CodeAlreadyExists), Message: "ordered"}}}), nil, connect.CodeAlreadyExists},
		{"undecodable reply", []byte{0xff, 0xff}, nil, connect.CodeUnavailable},
		{"unreachable", nil, errors.New("connection refused"), connect.CodeUnavailable},
	} {
		host := &fakeHost{call: func(_ context.Context, _, protocol string, _ []byte) ([]byte, error) {
			if protocol != BroadcastProtocol {
				return nil, fmt.Errorf("called %s", protocol)
			}
			return tc.raw, tc.err
		}}
		err := hostOrderer{host}.Broadcast(context.Background(), node("orderer0", "OrdererMSP"), testEnvelope(t))
		if connect.CodeOf(err) != tc.wantCode && !(err == nil && tc.wantCode == 0) {
			t.Errorf("broadcast, %s: got %v, want code %v", tc.name, err, tc.wantCode)
		}
	}

	s := hostSessions{&fakeHost{sessions: []p2p.SessionInfo{{PeerID: "a", State: "active"}, {PeerID: "b", State: "closing"}}}}
	if !s.Up("a") || s.Up("b") || s.Up("c") {
		t.Errorf("sessions: a %v (active), b %v (closing), c %v (none)", s.Up("a"), s.Up("b"), s.Up("c"))
	}
}

func TestErrorCodes(t *testing.T) {
	for err, want := range map[error]connect.Code{
		fmt.Errorf("%w: x", endorse.ErrBadProposal):          connect.CodeInvalidArgument,
		fmt.Errorf("%w: x", endorse.ErrNotAuthorized):        connect.CodePermissionDenied,
		fmt.Errorf("%w: x", endorse.ErrAlreadyCommitted):     connect.CodeAlreadyExists,
		fmt.Errorf("%w: x", endorse.ErrUnhealthy):            connect.CodeUnavailable,
		fmt.Errorf("%w: x", endorse.ErrUnavailable):          connect.CodeFailedPrecondition,
		fmt.Errorf("simulate: %w", context.DeadlineExceeded): connect.CodeDeadlineExceeded,
		errors.New("disk full"):                              connect.CodeInternal,
	} {
		if got := endorseCode(err); got != want {
			t.Errorf("endorseCode(%v) = %v, want %v", err, got, want)
		}
	}
	for status, want := range map[int32]connect.Code{400: connect.CodeInvalidArgument, 401: connect.CodePermissionDenied, 403: connect.CodePermissionDenied,
		404: connect.CodeNotFound, 409: connect.CodeAlreadyExists, 422: connect.CodeFailedPrecondition, 500: connect.CodeInternal} {
		if got := statusCode(status); got != want {
			t.Errorf("statusCode(%d) = %v, want %v", status, got, want)
		}
	}
}

// TestOptions: New names every missing requirement and refuses negative
// durations; EnsureDefaults fills the documented defaults.
func TestOptions(t *testing.T) {
	_, err := New(Options{EndorseTimeout: -1})
	for _, want := range []string{"Endorser, Committer, Height, Contracts, MSP, Host, Logger required", "EndorseTimeout is negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(empty) = %v, want it to say %q", err, want)
		}
	}
	o := Options{Host: &fakeHost{}}
	o.EnsureDefaults()
	if o.EndorseTimeout != 10*time.Second || o.SubmitTimeout != 15*time.Second || o.MinAttemptTimeout != 2*time.Second || o.MaxCommitWait != 5*time.Minute ||
		o.CommitWaiters != 16384 || o.CommitWaitersPerClient != 1024 || o.EndorseClient == nil || o.OrderClient == nil || o.Sessions == nil || o.Refused == nil {
		t.Errorf("defaults: %+v", o)
	}
}
