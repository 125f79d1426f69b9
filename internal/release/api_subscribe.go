package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// Subscribe keeps a client's subscription open: a stream of events until
// the client goes away (see the proto). A new client name is admitted
// within the limits on per-client state; re-subscribing under a name
// held always is.
func (a *api) Subscribe(ctx context.Context, req *connect.Request[foliov1.SubscribeRequest], stream *connect.ServerStream[foliov1.SubscribeResponse]) error {
	label, r, err := a.open(ctx, req.Msg.GetReleaseId(), false)
	if err != nil {
		return err
	}
	s := req.Msg
	if err := wire.ValidateSubscribe(s); err != nil {
		return errorf(connect.CodeInvalidArgument, "%v", err)
	}
	if !ownsClientName(label, s.GetClient()) {
		return errorf(connect.CodePermissionDenied, "%s may subscribe as %s or %s/NAME, not as %s", label, label, label, s.GetClient())
	}
	if s.GetEdgeDecrypt() && r.te == nil {
		return errorf(connect.CodeFailedPrecondition, "%s is not a trusted edge of release %s (trusted edges: %v): fetch the ciphertext, or subscribe at a trusted edge",
			a.p.name(), r.rec.ID, r.rec.TrustedEdges)
	}
	now := a.p.now()
	sub, err := r.edge.subscribe(label, subscribeArgs{client: s.GetClient(), session: s.GetSession(), edgeDecrypt: s.GetEdgeDecrypt(), naive: s.GetNaive(), haveBytes: s.GetHaveBytes()}, now)
	var lerr *LimitError
	if errors.As(err, &lerr) {
		return a.refuse(lerr)
	}
	if err != nil {
		return codeOf(err)
	}
	defer func() { r.edge.endStream(sub, a.p.now()) }()

	if err := stream.Send(&foliov1.SubscribeResponse{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_HELLO, ServerTimeUnixNano: now.UnixNano()}); err != nil {
		return err
	}
	ping := time.NewTicker(a.p.o.PingInterval)
	defer ping.Stop()
	told := &told{client: s.GetClient(), edgeDecrypt: s.GetEdgeDecrypt(), sent: map[int]bool{}}
	for {
		evs, ch, wake := pendingEvents(r, told)
		for _, e := range evs {
			if err := stream.Send(e); err != nil {
				return err
			}
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !wake.IsZero() {
			t = time.NewTimer(max(wake.Sub(a.p.now()), time.Millisecond))
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-a.p.ctx.Done():
		case <-ch:
		case <-timer:
		case <-ping.C:
			at := a.p.now()
			id := r.edge.ping(sub, at)
			if err := stream.Send(&foliov1.SubscribeResponse{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_PING, PingId: id, ServerTimeUnixNano: at.UnixNano()}); err != nil {
				return err
			}
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil || a.p.ctx.Err() != nil {
			return nil
		}
	}
}

// told is what one subscription stream has told its client.
type told struct {
	client      string
	edgeDecrypt bool
	sendAt      int64
	startAt     int64
	reason      string
	sent        map[int]bool // share indexes
}

// pendingEvents returns what a subscriber has not been told yet, the
// channel of the next change of the release, and when to look again
// (the release time, if shares are held before it).
func pendingEvents(r *rel, t *told) ([]*foliov1.SubscribeResponse, <-chan struct{}, time.Time) {
	ch := r.changed.C()
	e := r.env
	now := e.now()
	_, skewOK, _ := e.clock.skew()
	var evs []*foliov1.SubscribeResponse
	var sendAt, startAt int64
	if at := r.watch.sendAt(); !at.IsZero() {
		sendAt = at.UnixNano()
	}
	if t.edgeDecrypt && r.te != nil {
		if at := r.te.startOf(t.client); !at.IsZero() {
			startAt = at.UnixNano()
		}
	}
	if sendAt != 0 && sendAt != t.sendAt || startAt != 0 && startAt != t.startAt {
		t.sendAt, t.startAt = sendAt, startAt
		evs = append(evs, &foliov1.SubscribeResponse{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SCHEDULE, SendAtUnixNano: sendAt, StartAtUnixNano: startAt})
	}
	reason := ""
	if r.te != nil {
		_, reason = r.te.state()
	}
	if reason == "" && !skewOK {
		reason = fmt.Sprintf("%v: %s holds the key until its clock agrees with its peers'; another peer can serve you", ErrClockSkew, e.name())
	}
	held := r.shares.statements()
	if reason == "" {
		reason = r.watch.notReleasing(len(held))
	}
	if reason != t.reason {
		t.reason = reason
		evs = append(evs, &foliov1.SubscribeResponse{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_STATUS, Reason: reason})
	}
	var wake time.Time
	if !t.edgeDecrypt && len(held) > 0 {
		switch {
		case now.Before(r.releaseAt):
			wake = r.releaseAt
		case skewOK:
			for _, m := range held {
				if t.sent[m.Index] {
					continue
				}
				p, err := wire.ShareProto(m)
				if err != nil {
					continue // not reached: accepted shares are well-formed
				}
				t.sent[m.Index] = true
				evs = append(evs, &foliov1.SubscribeResponse{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE, ShareIndex: p.Index, Share: p.Share})
			}
		}
	}
	return evs, ch, wake
}

// ReportProgress records a subscribed client's ciphertext progress, its
// measured rate and its answer to a ping.
func (a *api) ReportProgress(ctx context.Context, req *connect.Request[foliov1.ReportProgressRequest]) (*connect.Response[foliov1.ReportProgressResponse], error) {
	label, r, err := a.open(ctx, req.Msg.GetReleaseId(), false)
	if err != nil {
		return nil, err
	}
	pr := req.Msg
	if err := wire.ValidateProgress(pr); err != nil {
		return nil, errorf(connect.CodeInvalidArgument, "%v", err)
	}
	if !ownsClientName(label, pr.GetClient()) {
		return nil, errorf(connect.CodePermissionDenied, "%s may not report for %s", label, pr.GetClient())
	}
	ok := r.edge.progress(progressArgs{client: pr.GetClient(), bytes: pr.GetBytes(), total: pr.GetTotal(), rate: pr.GetRateBps(),
		complete: pr.GetComplete(), pong: pr.GetPong(), probeAck: pr.GetProbeAck()}, a.p.now())
	if !ok {
		return nil, errorf(connect.CodeFailedPrecondition, "%v: subscribe before reporting progress", errNotSubscribed)
	}
	return connect.NewResponse(&foliov1.ReportProgressResponse{}), nil
}
