package release

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	rc "github.com/folio-ledger/folio/contracts/release"
)

// EdgeView is one peer's answer to a status request (or why it gave none).
type EdgeView struct {
	Peer   string      `json:"peer"`
	Status *EdgeStatus `json:"status,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// EdgeStatus is one peer's view of a release now.
type EdgeStatus struct {
	Edge string `json:"edge"`
	RID  string `json:"rid"`
	// State is "refused" (the peer serves nothing of the release: Reason
	// says why), "fetching" (ciphertext), "ready" (all ciphertext held)
	// or "released" (threshold shares held).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// ChunksHave of ChunksTotal ciphertext chunks are held (0 of 0 before
	// the manifest).
	ChunksHave  int64 `json:"chunks_have"`
	ChunksTotal int64 `json:"chunks_total"`
	// RejectedChunks counts chunks other peers sent that failed
	// verification (and were fetched again).
	RejectedChunks int64 `json:"rejected_chunks,omitempty"`
	// SendAt is the agreed key send time as this peer knows it (Unix ns;
	// 0 before coordination).
	SendAt int64 `json:"send_at,omitempty"`
	// SharesHeld are the indexes of the released shares the peer holds.
	SharesHeld []int            `json:"shares_held"`
	KeyServers []KeyServerState `json:"key_servers,omitempty"`
	// Subscribers are the live subscribed clients with their predictions.
	Subscribers []ClientPrediction `json:"subscribers"`
	// Subscriptions counts the subscriptions held, live and idle (bounded
	// by the setting release.max_subscriptions).
	Subscriptions int `json:"subscriptions"`
	// EarlyShares lists shares that arrived before the release time and
	// were refused (the sender and when).
	EarlyShares []string `json:"early_shares,omitempty"`
	// ClockSkewMS is the peer's median clock offset to the other peers.
	ClockSkewMS float64 `json:"clock_skew_ms"`
}

// KeyServerState is what a peer knows of one key server of a release.
type KeyServerState struct {
	Name     string `json:"name"`
	Index    int    `json:"index"`
	Reach    bool   `json:"reachable"`
	Released bool   `json:"released"`
	Reason   string `json:"reason,omitempty"`
}

// ClientPrediction is a peer's view of one subscribed client.
type ClientPrediction struct {
	Client string `json:"client"`
	// Complete: the client acknowledged the whole ciphertext at DoneAt
	// (Unix ns).
	Complete bool  `json:"complete,omitempty"`
	DoneAt   int64 `json:"done_at,omitempty"`
	// PredictedAt is when it is expected to complete (Unix ns; 0:
	// unknown).
	PredictedAt int64 `json:"predicted_at,omitempty"`
	// RateBps is the recent observed rate (bits/s), RTTMS the probed
	// round trip.
	RateBps float64 `json:"rate_bps,omitempty"`
	RTTMS   float64 `json:"rtt_ms,omitempty"`
	// EdgeDecrypt clients get plaintext from a trusted edge.
	EdgeDecrypt bool `json:"edge_decrypt,omitempty"`
}

// StatusView is what `folio release status` shows.
type StatusView struct {
	Release rc.Record      `json:"release"`
	Shares  []rc.Published `json:"shares_published"`
	Edges   []EdgeView     `json:"edges"`
}

// edgeStatus is a peer's status answer as the SDK gives it.
func edgeStatus(m *foliov1.GetReleaseStatusResponse) *EdgeStatus {
	s := &EdgeStatus{Edge: m.GetEdge(), RID: m.GetReleaseId(), State: m.GetState(), Reason: m.GetReason(), ChunksHave: m.GetChunksHave(),
		ChunksTotal: m.GetChunksTotal(), RejectedChunks: m.GetRejectedChunks(), SendAt: m.GetSendAtUnixNano(), SharesHeld: []int{},
		Subscribers: []ClientPrediction{}, Subscriptions: int(m.GetSubscriptions()), EarlyShares: m.GetEarlyShares(), ClockSkewMS: m.GetClockSkewMs()}
	for _, i := range m.GetSharesHeld() {
		s.SharesHeld = append(s.SharesHeld, int(i))
	}
	for _, k := range m.GetKeyServers() {
		s.KeyServers = append(s.KeyServers, KeyServerState{Name: k.GetName(), Index: int(k.GetIndex()), Reach: k.GetReachable(),
			Released: k.GetReleased(), Reason: k.GetReason()})
	}
	for _, c := range m.GetSubscribers() {
		s.Subscribers = append(s.Subscribers, ClientPrediction{Client: c.GetClient(), Complete: c.GetComplete(), DoneAt: c.GetDoneAtUnixNano(),
			PredictedAt: c.GetPredictedAtUnixNano(), RateBps: c.GetRateBps(), RTTMS: c.GetRttMs(), EdgeDecrypt: c.GetEdgeDecrypt()})
	}
	return s
}

// PeerStatus asks one peer (by name) about a release (by ID): its view
// now, a release it refuses too (State "refused", with the reason).
func (c *Client) PeerStatus(ctx context.Context, peer, releaseID string) (*EdgeStatus, error) {
	p, err := c.peer(peer)
	if err != nil {
		return nil, err
	}
	resp, err := c.api(p).GetReleaseStatus(ctx, connect.NewRequest(&foliov1.GetReleaseStatusRequest{ReleaseId: releaseID}))
	if err != nil {
		return nil, peerErr(p, "release status", err)
	}
	return edgeStatus(resp.Msg), nil
}

// Status asks every peer about a work's release.
func (c *Client) Status(ctx context.Context, work, owner string) (*StatusView, error) {
	v, _, err := c.Lookup(ctx, work, owner)
	if err != nil {
		return nil, err
	}
	out := &StatusView{Release: v.Release, Shares: v.Shares, Edges: make([]EdgeView, len(c.Peers))}
	var wg sync.WaitGroup
	for i, p := range c.Peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			ev := EdgeView{Peer: p.Name}
			resp, err := c.api(p).GetReleaseStatus(cctx, connect.NewRequest(&foliov1.GetReleaseStatusRequest{ReleaseId: v.Release.ID}))
			if err != nil {
				ev.Error = peerErr(p, "release status", err).Error()
			} else {
				ev.Status = edgeStatus(resp.Msg)
			}
			out.Edges[i] = ev
		}()
	}
	wg.Wait()
	return out, nil
}

// ClientReport is one client's line in a report.
type ClientReport struct {
	Client               string `json:"client"`
	Edge                 string `json:"edge,omitempty"`
	EdgeDecrypt          bool   `json:"edge_decrypt,omitempty"`
	CiphertextCompleteAt string `json:"ciphertext_complete_at,omitempty"`
	KeyReceivedAt        string `json:"key_received_at,omitempty"`
	AccessAt             string `json:"access_at,omitempty"`
	// AccessAfterReleaseMS is access time minus release time.
	AccessAfterReleaseMS *float64 `json:"access_after_release_ms,omitempty"`
	// Early: accessed before the release time. MissedEnd: no access by
	// the end time.
	Early     bool   `json:"early,omitempty"`
	MissedEnd bool   `json:"missed_end,omitempty"`
	Error     string `json:"error,omitempty"`
}

// ReportView is `folio release report`: the on-chain account of a release.
type ReportView struct {
	Work       string   `json:"work"`
	Release    string   `json:"release"`
	ReleaseAt  string   `json:"release_at"`
	EndAt      string   `json:"end_at"`
	Threshold  int      `json:"threshold"`
	KeyServers []string `json:"key_servers"`
	// Opened: at least one client opened the work.
	Opened bool `json:"opened"`
	// Reason says why nobody opened the work, when nobody did.
	Reason  string         `json:"reason,omitempty"`
	Clients []ClientReport `json:"clients"`
	// SpreadMS is max - min access time over clients that had the
	// ciphertext when the key went out (the threshold-th share statement
	// on chain; a client's own key receipt when the chain has fewer), or
	// -1 if there is no such client.
	SpreadMS float64 `json:"spread_ms"`
	// EdgeSpreadMS is the same over edge-decrypt clients, and
	// EdgeVsKeyMS the largest distance of an edge-decrypt client's access
	// from the key clients' median access.
	EdgeSpreadMS float64 `json:"edge_spread_ms,omitempty"`
	EdgeVsKeyMS  float64 `json:"edge_vs_key_ms,omitempty"`
	EarlyAccess  int     `json:"early_access"`
	MissedEnd    int     `json:"missed_end"`
	// Shares published on chain, and any before the release time (never,
	// the contract refuses them).
	SharesPublished []rc.Published `json:"shares_published"`
	SharesBeforeT   int            `json:"shares_before_release"`
}

// Report reads the on-chain account of a work's release and computes the
// fairness figures.
func (c *Client) Report(ctx context.Context, work, owner string) (*ReportView, error) {
	w, err := c.work(ctx, work)
	if err != nil {
		return nil, err
	}
	if owner == "" {
		owner = w.Owner
	}
	raw, err := c.Gateway.Evaluate(ctx, ReleaseContract, rc.FnReport, mustJSON(rc.RefArgs{Work: work, Owner: owner}))
	if err != nil {
		return nil, fmt.Errorf("release report of %s: %w", work, err)
	}
	var v rc.ReportView
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return Summarize(&v), nil
}

// Summarize computes a report from the contract's answer.
func Summarize(v *rc.ReportView) *ReportView {
	rec := v.Release
	releaseAt, endAt, _ := rec.Times()
	out := &ReportView{Work: rec.Work, Release: rec.ID, ReleaseAt: rec.ReleaseAt, EndAt: rec.EndAt, Threshold: rec.Threshold,
		Clients: []ClientReport{}, SharesPublished: v.Shares, SpreadMS: -1}
	for _, ks := range rec.KeyServers {
		out.KeyServers = append(out.KeyServers, ks.Name)
	}
	var sent []time.Time
	for _, s := range v.Shares {
		t, err := time.Parse(time.RFC3339Nano, s.SentAt)
		if err != nil {
			continue
		}
		sent = append(sent, t)
		if t.Before(releaseAt) {
			out.SharesBeforeT++
		}
	}
	// The key went out when the threshold-th share was released (by the
	// key servers' signed statements on chain); without enough statements
	// on chain, each client's own key receipt stands in for it.
	var keyOut time.Time
	if len(sent) >= rec.Threshold && rec.Threshold > 0 {
		sort.Slice(sent, func(i, j int) bool { return sent[i].Before(sent[j]) })
		keyOut = sent[rec.Threshold-1]
	}
	parse := func(s string) time.Time {
		t, _ := time.Parse(time.RFC3339Nano, s)
		return t
	}
	var keyAccess, edgeAccess []time.Time
	var errs []string
	for _, a := range v.Accesses {
		cr := ClientReport{Client: a.Client, Edge: a.Edge, EdgeDecrypt: a.EdgeDecrypt, CiphertextCompleteAt: a.CiphertextCompleteAt,
			KeyReceivedAt: a.KeyReceivedAt, AccessAt: a.AccessAt, Error: a.Error}
		acc := parse(a.AccessAt)
		if acc.IsZero() {
			cr.MissedEnd = true
			if a.Error != "" {
				errs = append(errs, a.Client+": "+a.Error)
			}
		} else {
			out.Opened = true
			ms := float64(acc.Sub(releaseAt)) / float64(time.Millisecond)
			cr.AccessAfterReleaseMS = &ms
			cr.Early = acc.Before(releaseAt)
			cr.MissedEnd = acc.After(endAt)
			ct, kt := parse(a.CiphertextCompleteAt), parse(a.KeyReceivedAt)
			switch {
			case a.EdgeDecrypt:
				edgeAccess = append(edgeAccess, acc)
			case !ct.IsZero() && !kt.IsZero() && !keyOut.IsZero() && !ct.After(keyOut):
				keyAccess = append(keyAccess, acc)
			case !ct.IsZero() && !kt.IsZero() && keyOut.IsZero() && !ct.After(kt):
				keyAccess = append(keyAccess, acc)
			}
		}
		if cr.Early {
			out.EarlyAccess++
		}
		if cr.MissedEnd {
			out.MissedEnd++
		}
		out.Clients = append(out.Clients, cr)
	}
	sort.Slice(out.Clients, func(i, j int) bool { return out.Clients[i].Client < out.Clients[j].Client })
	if len(keyAccess) > 0 {
		out.SpreadMS = spreadMS(keyAccess)
	}
	if len(edgeAccess) > 0 {
		out.EdgeSpreadMS = spreadMS(edgeAccess)
		if len(keyAccess) > 0 {
			med := median(keyAccess)
			for _, t := range edgeAccess {
				d := float64(t.Sub(med)) / float64(time.Millisecond)
				if d < 0 {
					d = -d
				}
				out.EdgeVsKeyMS = max(out.EdgeVsKeyMS, d)
			}
		}
	}
	if !out.Opened {
		switch {
		case len(errs) > 0:
			out.Reason = strings.Join(errs, "; ")
		case len(v.Accesses) == 0:
			out.Reason = "no client has reported yet"
		}
		if len(v.Shares) < rec.Threshold {
			out.Reason = strings.TrimPrefix(out.Reason+fmt.Sprintf("; %d of %d needed shares published on chain", len(v.Shares), rec.Threshold), "; ")
		}
	}
	return out
}

func spreadMS(ts []time.Time) float64 {
	lo, hi := ts[0], ts[0]
	for _, t := range ts {
		if t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
	}
	return float64(hi.Sub(lo)) / float64(time.Millisecond)
}

func median(ts []time.Time) time.Time {
	s := append([]time.Time(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	return s[len(s)/2]
}
