package release

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/schedule"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// keyServer is this peer's key server role for one release that names it:
// it agrees the key send time with the other key servers
// (schedule.Coordinator, the deterministic core, driven by run) and at
// that time, never before T by its clock and only while its clock agrees
// with its peers', decrypts its share, signs the statement, pushes it to
// every peer and publishes it on chain. It gives its share early to the
// release's trusted edges over their sessions (earlyShare).
//
// Lock rules: mu guards the coordinator and the role's status; it is held
// only for the core's steps (no I/O under it) and never together with
// another role's lock.
type keyServer struct {
	env              *env
	rec              *release.Record
	releaseAt, endAt time.Time
	index            int
	encShare         []byte
	shares           *shareBox
	watch            *keyWatch
	edge             *edge
	// accept checks and keeps a share statement as every incoming one is
	// (rel.acceptShare).
	accept func(m wire.ShareMsg, from string) (bool, error)

	mu struct {
		sync.Mutex
		core *schedule.Coordinator
		// reason says why the share is not released yet (clock skew),
		// "" when nothing is wrong.
		reason string
	}
}

func newKeyServer(e *env, r *rel, index int, encShare []byte) (*keyServer, error) {
	core, err := schedule.NewCoordinator(schedule.CoordinatorConfig{Self: e.name(), ReleaseAt: r.releaseAt, EndAt: r.endAt,
		Lead: e.o.CoordLead, Interval: e.o.CoordInterval, Freeze: e.o.Freeze, RoundTimeout: max(e.o.CoordInterval, 500*time.Millisecond),
		ReadyFraction: e.o.ReadyFraction})
	if err != nil {
		return nil, err
	}
	k := &keyServer{env: e, rec: &r.rec, releaseAt: r.releaseAt, endAt: r.endAt, index: index, encShare: encShare,
		shares: r.shares, watch: r.watch, edge: r.edge, accept: r.acceptShare}
	k.mu.core = core
	return k, nil
}

// step runs one input of the core under mu.
func (k *keyServer) step(f func(c *schedule.Coordinator) (schedule.Step, error)) (schedule.Step, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return f(k.mu.core)
}

// run drives the coordinator until the share is released, the end time
// passed or ctx ends: it performs each Step (gather, exchange, release)
// and feeds the result back, and sleeps until the Step's wake time.
func (k *keyServer) run(ctx context.Context) {
	st, err := k.step(func(c *schedule.Coordinator) (schedule.Step, error) { return c.Tick(k.env.now()), nil })
	for err == nil && ctx.Err() == nil {
		k.publishStep(ctx, st)
		switch {
		case st.Done:
			return
		case st.Gather:
			clients := k.gather(ctx, st.Deadline)
			st, err = k.step(func(c *schedule.Coordinator) (schedule.Step, error) { return c.Gathered(k.env.now(), clients) })
		case st.Exchange:
			answers := k.exchange(ctx, st.Own, st.Deadline)
			st, err = k.step(func(c *schedule.Coordinator) (schedule.Step, error) { return c.Exchanged(k.env.now(), answers) })
		case st.Release:
			msg, pa, rerr := k.releaseShare(ctx)
			k.setReason(rerr)
			if rerr != nil {
				k.env.log.Warn("key share not released yet", "rid", k.rec.ID, "err", rerr)
			}
			st, err = k.step(func(c *schedule.Coordinator) (schedule.Step, error) { return c.Released(k.env.now(), rerr) })
			if rerr == nil {
				k.push(ctx, msg)
				k.publish(pa)
			}
		default:
			if !k.env.sleepUntil(ctx, st.Wake) {
				return
			}
			st, err = k.step(func(c *schedule.Coordinator) (schedule.Step, error) { return c.Tick(k.env.now()), nil })
		}
	}
	if err != nil {
		k.env.log.Error("key server stopped: the coordinator refused its driver's input", "rid", k.rec.ID, "err", err)
	}
}

// publishStep tells the edge of a new agreed time and compares clocks
// when the time freezes, so that the check at the send time need not
// wait for the peers.
func (k *keyServer) publishStep(ctx context.Context, st schedule.Step) {
	if !st.Agreed.IsZero() {
		k.env.log.Info("key send time", "rid", k.rec.ID, "agreed", st.Agreed.UTC().Format(time.RFC3339Nano), "reason", st.Reason)
		k.watch.setSendAt(st.Agreed)
	}
	if st.Frozen {
		k.mu.Lock()
		agreed := k.mu.core.Agreed()
		k.mu.Unlock()
		k.env.log.Info("key send time fixed", "rid", k.rec.ID, "send_at", agreed.UTC().Format(time.RFC3339Nano))
		k.env.clock.measureWithin(ctx, min(300*time.Millisecond, max(agreed.Sub(k.env.now())/2, 10*time.Millisecond)))
	}
}

func (k *keyServer) setReason(err error) {
	k.mu.Lock()
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	changed := k.mu.reason != reason
	k.mu.reason = reason
	k.mu.Unlock()
	if changed {
		k.watch.changed.notify()
	}
}

// status returns whether the share is released and why not, if it is not.
func (k *keyServer) status() (released bool, reason string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.mu.core.ShareReleased(), k.mu.reason
}

// gather collects every edge's client predictions (this peer's own
// included) until deadline, edge-decrypt clients excluded (they do not
// wait for ciphertext). A client known to several edges counts once: as
// complete if any edge says so, else with its latest prediction.
func (k *keyServer) gather(ctx context.Context, deadline time.Time) []schedule.Client {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var mu sync.Mutex
	clients := map[string]wire.ClientPrediction{}
	add := func(cs []wire.ClientPrediction) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			if c.EdgeDecrypt {
				continue
			}
			if old, ok := clients[c.Client]; !ok || c.Complete || (!old.Complete && c.PredictedAt > old.PredictedAt) {
				clients[c.Client] = c
			}
		}
	}
	add(k.edge.predictions(k.env.now()))
	req := wire.Encode(wire.KeysRequest{Op: wire.OpReport, RID: k.rec.ID})
	var wg sync.WaitGroup
	for _, x := range k.env.peers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := k.env.call(ctx, x.NodeID, wire.ProtoKeys, req)
			var rep wire.Report
			if err != nil || wire.Decode(raw, &rep) != nil {
				return
			}
			add(rep.Clients)
		}()
	}
	wg.Wait()
	out := make([]schedule.Client, 0, len(clients))
	for _, c := range clients {
		sc := schedule.Client{Name: c.Client, Complete: c.Complete, RateBps: c.RateBps, RTT: time.Duration(c.RTTMS * float64(time.Millisecond))}
		if c.Complete {
			sc.DoneAt = time.Unix(0, c.DoneAt)
		} else if c.PredictedAt > 0 {
			sc.PredictedAt = time.Unix(0, c.PredictedAt)
		}
		out = append(out, sc)
	}
	return out
}

// exchange sends this key server's proposal to every other key server
// until deadline and returns their answers by name. A key server that
// does not answer (or answers under another name) is marked unreachable.
func (k *keyServer) exchange(ctx context.Context, own schedule.Proposal, deadline time.Time) map[string]schedule.Proposal {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	p := toWire(own)
	req := wire.Encode(wire.KeysRequest{Op: wire.OpCoord, RID: k.rec.ID, Proposal: &p})
	var mu sync.Mutex
	answers := map[string]schedule.Proposal{}
	var wg sync.WaitGroup
	for _, ks := range k.rec.KeyServers {
		if ks.Index == k.index {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := k.env.call(ctx, ks.NodeID, wire.ProtoKeys, req)
			var rep wire.Proposal
			if err == nil {
				err = wire.Decode(raw, &rep)
			}
			if err == nil && rep.From != ks.Name {
				err = fmt.Errorf("answered as %q", rep.From)
			}
			if err != nil {
				k.watch.setReach(ks.Name, false, fmt.Sprintf("coordination failed: %v", err))
				return
			}
			k.watch.setReach(ks.Name, true, "")
			mu.Lock()
			answers[ks.Name] = fromWire(rep)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return answers
}

func toWire(p schedule.Proposal) wire.Proposal {
	return wire.Proposal{From: p.From, SendAt: p.SendAt.UnixNano(), Ready: p.Ready, Total: p.Total}
}

func fromWire(p wire.Proposal) schedule.Proposal {
	return schedule.Proposal{From: p.From, SendAt: time.Unix(0, p.SendAt), Ready: p.Ready, Total: p.Total}
}

// receive answers another key server's proposal (op "coord", checked by
// the caller to come from that key server) with this one's latest.
func (k *keyServer) receive(p wire.Proposal) wire.Proposal {
	k.mu.Lock()
	own := k.mu.core.Receive(fromWire(p))
	k.mu.Unlock()
	k.watch.setReach(p.From, true, "")
	return toWire(own)
}

// isKeyServer reports whether the session's node is a key server of the
// release under the name and node ID the record gives.
func (k *keyServer) isKeyServer(from p2p.PeerIdentity) bool {
	for _, ks := range k.rec.KeyServers {
		if ks.Name == from.Name && ks.NodeID == from.NodeID {
			return true
		}
	}
	return false
}

// releaseShare releases this key server's share now: only at or after the
// release time by this peer's clock, and only while its clock agrees with
// its peers' within MaxClockSkew (measured afresh). It decrypts the
// share, signs the statement and keeps it here; the caller pushes it to
// the peers and publishes it.
func (k *keyServer) releaseShare(ctx context.Context) (wire.ShareMsg, release.PublishArgs, error) {
	o := k.env.o
	k.env.clock.fresh(ctx, max(2*o.ClockInterval, 10*time.Second))
	med, ok, known := k.env.clock.skew()
	switch {
	case !known:
		return wire.ShareMsg{}, release.PublishArgs{}, fmt.Errorf("%w: this key server could not compare its clock with any peer's recently: not releasing its share on an unchecked clock", ErrClockSkew)
	case !ok:
		return wire.ShareMsg{}, release.PublishArgs{}, fmt.Errorf("%w: this key server's clock is %s off the median of its peers (bound %s): refusing to release its share",
			ErrClockSkew, (-med).Round(time.Millisecond), o.MaxClockSkew)
	}
	now := k.env.now()
	if now.Before(k.releaseAt) {
		return wire.ShareMsg{}, release.PublishArgs{}, fmt.Errorf("%w: %s", ErrTooEarly, now.UTC().Format(time.RFC3339Nano))
	}
	share, err := keys.DecryptShare(k.env.kex, k.rec.ID, k.index, k.encShare)
	if err != nil {
		return wire.ShareMsg{}, release.PublishArgs{}, fmt.Errorf("open this key server's share: %w", err)
	}
	sr, err := keys.SignShareRelease(o.Self, k.rec.ID, k.index, share, now)
	if err != nil {
		return wire.ShareMsg{}, release.PublishArgs{}, err
	}
	pa := sr.PublishArgs(k.rec)
	msg := wire.ShareMsg{Index: pa.Index, Share: pa.Share, SentAt: pa.SentAt, NodeID: pa.NodeID, Sig: pa.Sig}
	if _, err := k.accept(msg, k.env.name()); err != nil {
		return wire.ShareMsg{}, release.PublishArgs{}, err
	}
	k.shares.markRelayed(msg.Index)
	k.env.log.Info("released key share", "rid", k.rec.ID, "index", k.index, "sent_at", pa.SentAt)
	return msg, pa, nil
}

// push sends the share to every peer directly; the ones that fail are
// retried every second in the background until the end time, so that the
// publication on chain does not wait for a peer that is down.
func (k *keyServer) push(ctx context.Context, m wire.ShareMsg) {
	req := wire.Encode(wire.KeysRequest{Op: wire.OpShare, RID: k.rec.ID, Share: &m})
	failed := k.sendAll(ctx, k.env.peers(), req)
	if len(failed) == 0 || k.env.now().After(k.endAt) {
		return
	}
	k.env.spawn(func(ctx context.Context) {
		for pending := failed; len(pending) > 0 && k.env.now().Before(k.endAt); {
			if !k.env.sleepUntil(ctx, k.env.now().Add(time.Second)) {
				return
			}
			pending = k.sendAll(ctx, pending, req)
		}
	})
}

// sendAll sends req to the peers at once and returns those that did not
// take it (a refusal counts as taken: the peer will not take it later).
func (k *keyServer) sendAll(ctx context.Context, peers []peerInfo, req []byte) []peerInfo {
	var mu sync.Mutex
	var failed []peerInfo
	var wg sync.WaitGroup
	for _, x := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := k.env.call(ctx, x.NodeID, wire.ProtoKeys, req)
			var se *wire.StatusError
			if err != nil && !(errors.As(err, &se) && se.Status == wire.StatusRefused) {
				mu.Lock()
				failed = append(failed, x)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// publish records the released share on chain in the background.
// Endorsers may refuse transactions signed by a peer identity; clients
// that received the share then relay the same signed statement
// (docs/release.md).
func (k *keyServer) publish(pa release.PublishArgs) {
	k.env.spawn(func(ctx context.Context) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		raw, err := json.Marshal(pa)
		if err == nil {
			err = k.env.o.Chain.Submit(cctx, ReleaseContract, release.FnPublishShare, raw)
		}
		switch {
		case err == nil:
			k.env.log.Info("published key share on chain", "rid", k.rec.ID, "index", pa.Index)
		case strings.Contains(err.Error(), "already published"):
		default:
			k.env.log.Info("key share not published by this peer (clients relay its signed statement)", "rid", k.rec.ID, "index", pa.Index, "err", err)
		}
	})
}

// earlyShare answers a trusted edge that needs the key lead before the
// agreed send time to decrypt and stagger its plaintext sends. Only a
// trusted edge named in the record gets it, over its authenticated
// session, no earlier than the send time minus min(lead, MaxEdgeLead),
// and only while this key server's clock agrees with its peers'.
func (k *keyServer) earlyShare(from p2p.PeerIdentity, lead time.Duration) (*wire.EarlyShare, error) {
	x, ok := k.env.peerByName(from.Name)
	if !ok || x.NodeID != from.NodeID || !k.rec.IsTrustedEdge(from.Name) {
		return nil, fmt.Errorf("%s is not a trusted edge of release %s: no early key", from.Name, k.rec.ID)
	}
	if med, ok, known := k.env.clock.skew(); !ok || !known {
		return nil, fmt.Errorf("%w: this key server's clock is %s off its peers' (or could not be compared)", ErrClockSkew, (-med).Round(time.Millisecond))
	}
	lead = min(lead, k.env.o.MaxEdgeLead)
	sendAt := latest(k.watch.sendAt(), k.releaseAt)
	now := k.env.now()
	if open := sendAt.Add(-lead); now.Before(open) {
		return nil, fmt.Errorf("%w: early key for %s from %s (lead %s), it is %s", ErrTooEarly, from.Name,
			open.UTC().Format(time.RFC3339Nano), lead, now.UTC().Format(time.RFC3339Nano))
	}
	share, err := keys.DecryptShare(k.env.kex, k.rec.ID, k.index, k.encShare)
	if err != nil {
		return nil, err
	}
	k.env.log.Info("gave the key share early to a trusted edge", "rid", k.rec.ID, "edge", from.Name, "lead", lead, "send_at", sendAt)
	return &wire.EarlyShare{Index: k.index, Share: hex.EncodeToString(share)}, nil
}
