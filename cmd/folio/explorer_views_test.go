package main

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	crelease "github.com/folio-ledger/folio/client/release"
	rc "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/explorer/web"
	"github.com/folio-ledger/folio/internal/localnet"
)

var viewNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestClassifyExpiry(t *testing.T) {
	day := 24 * time.Hour
	for _, c := range []struct {
		name                string
		notBefore, notAfter time.Time
		status, text        string
	}{
		{"valid for a year", viewNow.Add(-day), viewNow.Add(365 * day), "ok", "expires in 365 days"},
		{"exactly 30 days left", viewNow.Add(-day), viewNow.Add(30 * day), "ok", "expires in 30 days"},
		{"29 days left", viewNow.Add(-day), viewNow.Add(29 * day), "warn", "expires in 29 days"},
		{"hours left", viewNow.Add(-day), viewNow.Add(5 * time.Hour), "warn", "expires in 5 hours"},
		{"expires now", viewNow.Add(-day), viewNow, "fail", "expired 0 seconds ago"},
		{"expired", viewNow.Add(-10 * day), viewNow.Add(-3 * day), "fail", "expired 3 days ago"},
		{"not yet valid", viewNow.Add(day), viewNow.Add(400 * day), "fail", "not valid before 2026-06-02T12:00:00Z"},
	} {
		st, text := classifyExpiry(c.notBefore, c.notAfter, viewNow)
		if st != c.status || text != c.text {
			t.Errorf("%s: got %q %q, want %q %q", c.name, st, text, c.status, c.text)
		}
	}
}

func TestApproxDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:                  "1 second",
		90 * time.Second:             "90 seconds",
		2 * time.Minute:              "2 minutes",
		119 * time.Minute:            "119 minutes",
		3 * time.Hour:                "3 hours",
		47 * time.Hour:               "47 hours",
		48 * time.Hour:               "2 days",
		24*time.Hour*400 + time.Hour: "400 days",
	} {
		if got := approxDuration(d); got != want {
			t.Errorf("approxDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// table finds a table of a view by caption.
func table(t *testing.T, v *web.SectionView, caption string) web.Table {
	t.Helper()
	for _, tb := range v.Tables {
		if tb.Caption == caption {
			return tb
		}
	}
	t.Fatalf("no table %q", caption)
	return web.Table{}
}

// row finds the row of a table whose first cells read keys.
func row(t *testing.T, tb web.Table, keys ...string) []web.Cell {
	t.Helper()
next:
	for _, r := range tb.Rows {
		for i, k := range keys {
			if r[i].Text != k {
				continue next
			}
		}
		return r
	}
	t.Fatalf("table %q has no row %v", tb.Caption, keys)
	return nil
}

// col is the cell of row r under column name of tb.
func col(t *testing.T, tb web.Table, r []web.Cell, name string) web.Cell {
	t.Helper()
	for i, c := range tb.Columns {
		if c == name {
			return r[i]
		}
	}
	t.Fatalf("table %q has no column %q", tb.Caption, name)
	return web.Cell{}
}

func hasWarning(v *web.SectionView, words ...string) bool {
	for _, w := range v.Warnings {
		ok := true
		for _, word := range words {
			ok = ok && strings.Contains(w, word)
		}
		if ok {
			return true
		}
	}
	return false
}

func testNetwork() *localnet.Network {
	return &localnet.Network{Channel: "ch", Orgs: []localnet.Org{{Name: "Org1", MSPID: "Org1MSP", Kind: "peer", CA: "ca.org1"}, {Name: "OrdererOrg", MSPID: "OrdererMSP", Kind: "orderer"}}}
}

// TestNetworkView: a node's state, Raft roles, state-root agreement and
// certificate expiry become cells with statuses and warnings.
func TestNetworkView(t *testing.T) {
	st := []localnet.NodeStatus{
		{Name: "peer0.org1", Role: "peer", Org: "Org1", State: "up", Height: 7, Version: "v1.2", Health: "ok",
			Attestation: &localnet.AttestationStatus{Block: 6, StateRoot: strings.Repeat("ab", 32)}},
		{Name: "peer1.org1", Role: "peer", Org: "Org1", State: "up", Height: 7, Version: "v1.2", Health: "diverged", HealthDetail: "root differs",
			Attestation: &localnet.AttestationStatus{Block: 6, StateRoot: strings.Repeat("cd", 32)}, StateRootDisagrees: true, Disagreement: "differs from 2 peers"},
		{Name: "peer2.org1", Role: "peer", Org: "Org1", State: "unreachable", Reason: "connection refused"},
		{Name: "orderer0", Role: "orderer", Org: "OrdererOrg", State: "up", Height: 7, RaftRole: "leader", RaftTerm: 3, RaftLeader: "orderer0"},
		{Name: "orderer1", Role: "orderer", Org: "OrdererOrg", State: "stopped"},
	}
	certs := []certInfo{
		{Owner: "peer0.org1", Kind: "TLS", Subject: "peer0.org1", NotBefore: viewNow.Add(-time.Hour), NotAfter: viewNow.Add(9 * 24 * time.Hour)},
		{Owner: "admin@Org1", Kind: "admin identity", Subject: "admin", NotBefore: viewNow.Add(-time.Hour), NotAfter: viewNow.Add(-time.Hour)},
		{Owner: "orderer0", Kind: "identity", Subject: "orderer0", NotBefore: viewNow.Add(-time.Hour), NotAfter: viewNow.Add(900 * 24 * time.Hour)},
		{Owner: "orderer1", Kind: "configuration", Err: "no such file"},
	}
	v := networkView(testNetwork(), st, certs, viewNow)

	orgs := table(t, v, "Organisations")
	if c := col(t, orgs, row(t, orgs, "Org1"), "Nodes up"); c.Text != "2 of 3" || c.Status != "warn" {
		t.Errorf("Org1 nodes up: %+v", c)
	}
	nodes := table(t, v, "Nodes")
	for name, want := range map[string]string{"peer0.org1": "ok", "peer2.org1": "fail", "orderer1": "warn"} {
		if c := col(t, nodes, row(t, nodes, name), "State"); c.Status != want {
			t.Errorf("%s state %+v, want status %s", name, c, want)
		}
	}
	o0 := row(t, nodes, "orderer0")
	if col(t, nodes, o0, "Raft role").Text != "leader" || col(t, nodes, o0, "Term").Text != "3" || col(t, nodes, o0, "Leader").Text != "orderer0" {
		t.Errorf("orderer0 row %+v", o0)
	}
	if h := col(t, nodes, row(t, nodes, "peer1.org1"), "Health"); h.Status != "fail" {
		t.Errorf("diverged health %+v", h)
	}
	if c := col(t, nodes, row(t, nodes, "peer2.org1"), "Height"); c.Text != "-" {
		t.Errorf("an unreachable node's height is %q, want -", c.Text)
	}
	roots := table(t, v, "State-root agreement")
	for name, want := range map[string]string{"peer0.org1": "ok", "peer1.org1": "fail", "peer2.org1": "warn"} {
		if c := col(t, roots, row(t, roots, name), "Agreement"); c.Status != want {
			t.Errorf("%s agreement %+v, want %s", name, c, want)
		}
	}
	if c := col(t, roots, row(t, roots, "peer0.org1"), "After block"); c.Href != "/blocks/6" {
		t.Errorf("attested block link %+v", c)
	}
	ct := table(t, v, "Certificates")
	for _, w := range []struct{ owner, status, text string }{
		{"peer0.org1", "warn", "expires in 9 days"},
		{"admin@Org1", "fail", "expired 60 minutes ago"},
		{"orderer0", "ok", "expires in 900 days"},
		{"orderer1", "fail", "unreadable: no such file"},
	} {
		if c := col(t, ct, row(t, ct, w.owner), "Expiry"); c.Status != w.status || c.Text != w.text {
			t.Errorf("%s expiry %+v, want %s %q", w.owner, c, w.status, w.text)
		}
	}
	for _, w := range [][]string{
		{"peer2.org1", "unreachable"}, {"orderer1", "stopped"}, {"peer1.org1", "diverged"}, {"peer1.org1", "state root disagrees"},
		{"peer0.org1 TLS certificate expires in 9 days"}, {"admin@Org1 admin identity certificate expired"}, {"orderer1", "unreadable"},
	} {
		if !hasWarning(v, w...) {
			t.Errorf("no warning with %q in %q", w, v.Warnings)
		}
	}
	if hasWarning(v, "orderer0") || hasWarning(v, "Raft leader") {
		t.Errorf("warnings about a healthy node or Raft: %q", v.Warnings)
	}
}

// TestNetworkViewNoLeader: orderers up without a leader are flagged.
func TestNetworkViewNoLeader(t *testing.T) {
	st := []localnet.NodeStatus{
		{Name: "orderer0", Role: "orderer", Org: "OrdererOrg", State: "up", RaftRole: "candidate", RaftTerm: 4},
		{Name: "orderer1", Role: "orderer", Org: "OrdererOrg", State: "up", RaftRole: "follower", RaftTerm: 3},
	}
	v := networkView(testNetwork(), st, nil, viewNow)
	if !hasWarning(v, "no orderer reports itself Raft leader") {
		t.Errorf("warnings %q", v.Warnings)
	}
	if len(v.Notes) == 0 || !strings.Contains(v.Notes[0], "terms 3 to 4") {
		t.Errorf("notes %q", v.Notes)
	}
}

// TestSessionTable: the two ends' reports of a session become one row with
// its dialer; a pair both ends dialed, or that one end alone reports, or
// where an end holds two sessions, is flagged.
func TestSessionTable(t *testing.T) {
	st := []localnet.NodeStatus{
		{Name: "a", Sessions: []localnet.SessionStatus{{Name: "b", DialedBy: "self", State: "active"}, {Name: "c", DialedBy: "self", State: "active"}}},
		{Name: "b", Sessions: []localnet.SessionStatus{{Name: "a", DialedBy: "remote", State: "active"}}},
		{Name: "c", Sessions: []localnet.SessionStatus{{Name: "a", DialedBy: "self", State: "active"}, {Name: "a", DialedBy: "remote", State: "retiring"}}},
		{Name: "d", Sessions: []localnet.SessionStatus{{Name: "b", DialedBy: "remote", State: "confirming"}}},
	}
	tb := sessionTable(st)
	if len(tb.Rows) != 3 {
		t.Fatalf("%d rows, want 3 (a-b, a-c, b-d): %+v", len(tb.Rows), tb.Rows)
	}
	ab := row(t, tb, "a", "b")
	if ab[2].Text != "a" || ab[3].Status != "ok" || ab[4].Text != "both ends" {
		t.Errorf("a-b %+v", ab)
	}
	ac := row(t, tb, "a", "c")
	if ac[2].Status != "warn" || !strings.Contains(ac[2].Text, "both") || ac[3].Text != "active, retiring" || !strings.Contains(ac[4].Text, "c holds 2 sessions") {
		t.Errorf("a-c %+v", ac)
	}
	bd := row(t, tb, "b", "d")
	if bd[2].Text != "b" || bd[4].Text != "d only" || bd[4].Status != "warn" {
		t.Errorf("b-d %+v", bd)
	}
}

// TestContractsView: effective version, a pending switch, installs per
// peer, halted peers, an unreachable peer and enclave tiers.
func TestContractsView(t *testing.T) {
	defs := []*foliov1.ContractDefinition{{Name: "copyright", Version: "1", EndorsementPolicy: "AND('Org1MSP.peer')"}}
	statuses := []peerAnswer[*foliov1.ContractStatus]{
		{Peer: "copyright", Msg: &foliov1.ContractStatus{Name: "copyright", EffectiveVersion: "1", Sequence: 2,
			Next:        &foliov1.ContractVersionInfo{Version: "2", StartBlock: 40},
			Installs:    []*foliov1.PeerInstalls{{Peer: "p0", Versions: []string{"1", "2"}}, {Peer: "p1", Versions: []string{"2"}}},
			HaltedPeers: []string{"p1"},
			Activations: []*foliov1.ActivationRecord{{Version: "2", StartBlock: 40, BlockNumber: 30, TxId: "abcdef0123456789abcdef", Signers: []string{"admin@Org1"}, Sequence: 2}}}},
		{Peer: "notes", Err: errors.New("not found")},
	}
	installed := []peerAnswer[*foliov1.InstalledResponse]{
		{Peer: "p0", Msg: &foliov1.InstalledResponse{Peer: "p0", Packages: []*foliov1.InstalledPackage{{Name: "copyright", Version: "1", PackageHash: []byte{1, 2}}}}},
		{Peer: "p1", Err: errors.New("connection refused")},
	}
	encl := []enclaveRead{
		{Peer: "p0", Via: "plain HTTP on loopback", Stats: enclave.Stats{Crossings: 10, Ecalls: 6, Ocalls: 4, Internal: enclave.TierStats{Hits: 3, Misses: 1}}},
		{Peer: "p1", Err: "the wallet holds no admin@Org2"},
	}
	v := contractsView(defs, statuses, installed, encl)
	ct := table(t, v, "Contracts")
	cr := row(t, ct, "copyright")
	if c := col(t, ct, cr, "Pending switch"); c.Text != "version 2 at block 40" {
		t.Errorf("pending %+v", c)
	}
	if c := col(t, ct, cr, "Halted peers"); c.Text != "p1" || c.Status != "fail" {
		t.Errorf("halted %+v", c)
	}
	if c := col(t, ct, cr, "Endorsement policy"); c.Text != "AND('Org1MSP.peer')" {
		t.Errorf("policy %+v", c)
	}
	if c := col(t, ct, row(t, ct, "notes"), "Effective version"); c.Status != "fail" || !strings.Contains(c.Text, "not found") {
		t.Errorf("unavailable status %+v", c)
	}
	it := table(t, v, "Installs per peer (install records on chain)")
	if c := col(t, it, row(t, it, "copyright", "p1"), "Effective version installed"); c.Status != "fail" {
		t.Errorf("p1 lacks the effective version: %+v", c)
	}
	if c := col(t, it, row(t, it, "copyright", "p0"), "Effective version installed"); c.Status != "ok" {
		t.Errorf("p0 has both versions: %+v", c)
	}
	at := table(t, v, "Activations")
	if c := col(t, at, row(t, at, "copyright"), "Committed in block"); c.Href != "/blocks/30" {
		t.Errorf("activation block link %+v", c)
	}
	lt := table(t, v, "Packages installed on each peer")
	if c := row(t, lt, "p1")[1]; c.Status != "fail" {
		t.Errorf("unreachable peer %+v", c)
	}
	tt := table(t, v, "Enclave cache tiers")
	p0 := row(t, tt, "p0")
	if col(t, tt, p0, "Internal hit rate").Text != "75.0%" || col(t, tt, p0, "External hit rate").Text != "-" || col(t, tt, p0, "Crossings (ecalls + ocalls)").Text != "10 (6 + 4)" {
		t.Errorf("p0 tiers %+v", p0)
	}
	if c := row(t, tt, "p1")[1]; c.Status != "fail" || !strings.Contains(c.Text, "admin@Org2") {
		t.Errorf("p1 tiers %+v", c)
	}
	if !hasWarning(v, "copyright", "halted on p1") {
		t.Errorf("warnings %q", v.Warnings)
	}
}

func ms(v float64) *float64 { return &v }

func TestReleaseCountdown(t *testing.T) {
	tT, e := viewNow.Add(90*time.Second), viewNow.Add(3*time.Hour)
	for now, want := range map[time.Time]string{
		viewNow:                    "opens in 90 seconds",
		viewNow.Add(time.Hour):     "open; ends in 2 hours",
		viewNow.Add(5 * time.Hour): "ended 2 hours ago",
	} {
		if got, _ := releaseCountdown(tT, e, now); got != want {
			t.Errorf("at %s: %q, want %q", now, got, want)
		}
	}
}

func TestAccessHistogram(t *testing.T) {
	cs := []crelease.ClientReport{
		{AccessAfterReleaseMS: ms(-5)}, {AccessAfterReleaseMS: ms(3)}, {AccessAfterReleaseMS: ms(4)},
		{AccessAfterReleaseMS: ms(2500)}, {AccessAfterReleaseMS: nil},
	}
	got := accessHistogram(cs)
	want := []histBucket{{"before T", 1, 20}, {"0-10 ms", 2, 40}, {"10-100 ms", 0, 0}, {"100 ms-1 s", 0, 0}, {"1-10 s", 1, 20}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bucket %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if h := accessHistogram([]crelease.ClientReport{{AccessAfterReleaseMS: ms(120000)}}); len(h) != 1 || h[0].Label != "1-10 min" {
		t.Errorf("late access: %+v", h)
	}
	if h := accessHistogram([]crelease.ClientReport{{AccessAfterReleaseMS: ms(700000)}}); len(h) != 1 || h[0].Label != "10 min or more" {
		t.Errorf("very late access: %+v", h)
	}
	if h := accessHistogram(nil); h != nil {
		t.Errorf("no access: %+v", h)
	}
}

func testRecord(work string, t, e time.Time) rc.Record {
	return rc.Record{ID: "rid-" + work, Work: work, Owner: "user1@Org1", ReleaseAt: t.Format(time.RFC3339Nano), EndAt: e.Format(time.RFC3339Nano),
		Threshold: 2, KeyServers: []rc.KeyServer{{Index: 1, Name: "p0"}, {Index: 2, Name: "p1"}}, Size: 2048, Chunks: 1, Origin: "p0"}
}

func TestDetailOrder(t *testing.T) {
	h := time.Hour
	recs := []rc.Record{
		testRecord("ended-long-ago", viewNow.Add(-10*h), viewNow.Add(-9*h)),
		testRecord("later", viewNow.Add(5*h), viewNow.Add(6*h)),
		testRecord("ended-recently", viewNow.Add(-3*h), viewNow.Add(-h)),
		testRecord("soon", viewNow.Add(h), viewNow.Add(2*h)),
		testRecord("open", viewNow.Add(-h), viewNow.Add(h)),
	}
	var got []string
	for _, r := range detailOrder(recs, viewNow) {
		got = append(got, r.Work)
	}
	if want := "open soon later ended-recently ended-long-ago"; strings.Join(got, " ") != want {
		t.Errorf("order %q, want %q", got, want)
	}
}

// TestReleasesView: a release's schedule, key servers, the peers'
// ciphertext and clients, the on-chain clients and the histogram.
func TestReleasesView(t *testing.T) {
	open := testRecord("W-OPEN", viewNow.Add(-time.Minute), viewNow.Add(time.Hour))
	soon := testRecord("W-SOON", viewNow.Add(time.Minute), viewNow.Add(time.Hour))
	details := map[string]*releaseDetail{
		open.ID: {
			Report: &crelease.ReportView{Opened: true, SpreadMS: 42, EarlyAccess: 1,
				SharesPublished: []rc.Published{{Index: 1, SentAt: "2026-06-01T11:59:00Z"}},
				Clients: []crelease.ClientReport{
					{Client: "u@Org1/a", Edge: "p0", AccessAt: "x", AccessAfterReleaseMS: ms(12)},
					{Client: "u@Org1/b", Edge: "p0", AccessAt: "y", AccessAfterReleaseMS: ms(-3), Early: true},
				}},
			Edges: []crelease.EdgeView{
				{Peer: "p0", Status: &crelease.EdgeStatus{State: "released", ChunksHave: 1, ChunksTotal: 1, SharesHeld: []int{1, 2},
					KeyServers:  []crelease.KeyServerState{{Name: "p0", Index: 1, Reach: true, Released: true}, {Name: "p1", Index: 2}},
					Subscribers: []crelease.ClientPrediction{{Client: "u@Org1/a", Complete: true, DoneAt: viewNow.Add(-2 * time.Minute).UnixNano()}}}},
				{Peer: "p1", Error: "connection refused"},
				{Peer: "p2", Status: &crelease.EdgeStatus{State: "released", ChunksHave: 1, ChunksTotal: 1, SharesHeld: []int{1, 2},
					KeyServers: []crelease.KeyServerState{{Name: "p0", Index: 1, Reach: true, Released: true}, {Name: "p1", Index: 2}}}},
			},
		},
		soon.ID: {
			Report: &crelease.ReportView{Reason: "no client has reported yet"},
			Edges: []crelease.EdgeView{{Peer: "p0", Status: &crelease.EdgeStatus{State: "fetching", ChunksHave: 0, ChunksTotal: 1,
				KeyServers:  []crelease.KeyServerState{{Name: "p0", Index: 1}, {Name: "p1", Index: 2}},
				Subscribers: []crelease.ClientPrediction{{Client: "slow", PredictedAt: viewNow.Add(2 * time.Minute).UnixNano(), RateBps: 56000}}}}},
		},
	}
	v := releasesView([]rc.Record{open, soon}, details, viewNow)
	rt := table(t, v, "Timed releases")
	or := row(t, rt, "W-OPEN")
	if or[0].Href != "/works/W-OPEN" || col(t, rt, or, "Now").Text != "open; ends in 60 minutes" || col(t, rt, or, "Access spread").Text != "42 ms" {
		t.Errorf("open release row %+v", or)
	}
	if c := col(t, rt, or, "Opened"); c.Status != "fail" { // one early access
		t.Errorf("opened cell %+v", c)
	}
	sr := row(t, rt, "W-SOON")
	if col(t, rt, sr, "Now").Text != "opens in 60 seconds" || !strings.Contains(col(t, rt, sr, "Opened").Text, "no client") {
		t.Errorf("soon release row %+v", sr)
	}
	ks := table(t, v, "Key servers")
	if r := row(t, ks, "W-OPEN", "p0"); col(t, ks, r, "Reachable").Text != "yes (1 of 1 peers)" || col(t, ks, r, "Released").Text != "yes (1 of 1 peers)" ||
		col(t, ks, r, "Share published on chain").Status != "ok" {
		t.Errorf("open p0 key server %+v", r)
	}
	if r := row(t, ks, "W-OPEN", "p1"); col(t, ks, r, "Reachable").Text != "no (0 of 2 peers)" || col(t, ks, r, "Reachable").Status != "fail" {
		t.Errorf("open p1 key server (not reached after T) %+v", r)
	}
	if r := row(t, ks, "W-SOON", "p1"); col(t, ks, r, "Reachable").Text != "not checked yet" {
		t.Errorf("soon p1 key server (before T) %+v", r)
	}
	et := table(t, v, "Ciphertext at the peers")
	if c := col(t, et, row(t, et, "W-OPEN", "p1"), "State"); c.Status != "fail" {
		t.Errorf("unreachable edge %+v", c)
	}
	if c := col(t, et, row(t, et, "W-SOON", "p0"), "Chunks"); c.Text != "0 of 1" || c.Status != "warn" {
		t.Errorf("fetching edge %+v", c)
	}
	pt := table(t, v, "Clients' ciphertext progress (live subscriptions)")
	if c := col(t, pt, row(t, pt, "W-SOON", "p0", "slow"), "Ciphertext"); c.Status != "warn" || !strings.HasPrefix(c.Text, "expected at") {
		t.Errorf("late client %+v", c)
	}
	if c := col(t, pt, row(t, pt, "W-OPEN", "p0", "u@Org1/a"), "Ciphertext"); c.Status != "ok" {
		t.Errorf("complete client %+v", c)
	}
	cl := table(t, v, "Clients (reported on chain)")
	if c := col(t, cl, row(t, cl, "W-OPEN", "u@Org1/b"), "Note"); c.Status != "fail" {
		t.Errorf("early client %+v", c)
	}
	ht := table(t, v, "Access times after T (opened releases)")
	if len(ht.Rows) != 3 { // before T, 0-10 ms (empty), 10-100 ms
		t.Errorf("histogram rows %+v", ht.Rows)
	}
	if !hasWarning(v, "W-OPEN", "before the release time") {
		t.Errorf("warnings %q", v.Warnings)
	}
}

// TestViewCache: a page is computed once per TTL, failures are not kept,
// and a request that gives up while another computes is told so.
func TestViewCache(t *testing.T) {
	now := viewNow
	var c viewCache
	c.init(2*time.Second, func() time.Time { return now })
	var builds atomic.Int32
	build := func(context.Context) (*web.SectionView, error) {
		builds.Add(1)
		return &web.SectionView{Notes: []string{"n"}}, nil
	}
	ctx := context.Background()
	for range 3 {
		if _, err := c.get(ctx, build); err != nil {
			t.Fatal(err)
		}
	}
	if builds.Load() != 1 {
		t.Errorf("%d builds within the TTL, want 1", builds.Load())
	}
	now = now.Add(2 * time.Second)
	if _, err := c.get(ctx, build); err != nil || builds.Load() != 2 {
		t.Errorf("after the TTL: %v, %d builds, want 2", err, builds.Load())
	}
	now = now.Add(3 * time.Second)
	boom := errors.New("boom")
	if _, err := c.get(ctx, func(context.Context) (*web.SectionView, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("failure: %v", err)
	}
	if _, err := c.get(ctx, build); err != nil || builds.Load() != 3 {
		t.Errorf("after a failure: %v, %d builds, want 3", err, builds.Load())
	}
	// A request waiting for another's computation gives up with its context.
	now = now.Add(3 * time.Second)
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.get(ctx, func(context.Context) (*web.SectionView, error) {
			close(started)
			<-release
			return &web.SectionView{}, nil
		})
		done <- err
	}()
	<-started
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.get(cctx, build); !errors.Is(err, explorer.ErrUnavailable) {
		t.Errorf("a cancelled waiter: %v, want ErrUnavailable", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestExplorerViewsNetworkDown: the sections against a generated network
// none of whose nodes runs: the Network page lists every node "down"
// with its certificates, the pages that need a peer say it is
// unavailable, and nothing waits for the timeouts.
func TestExplorerViewsNetworkDown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	if _, err := localnet.Generate(dir, localnet.Spec{Orgs: 2, PeersPerOrg: 1, Orderers: 1}); err != nil {
		t.Fatal(err)
	}
	g := &globals{network: dir, as: "user1@Org1", stdout: io.Discard, stderr: io.Discard}
	dir, n, err := g.loadNetwork()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := g.nodeHTTP(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	sec := newExplorerViews(g, dir, n, hc)
	ctx := context.Background()

	v, err := sec.Network(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodes := table(t, v, "Nodes")
	if len(nodes.Rows) != len(n.Nodes) {
		t.Errorf("%d node rows, want %d", len(nodes.Rows), len(n.Nodes))
	}
	for _, r := range nodes.Rows {
		if c := col(t, nodes, r, "State"); c.Text != localnet.StateDown || c.Status != "fail" {
			t.Errorf("%s: state %+v, want down", r[0].Text, c)
		}
	}
	if !hasWarning(v, "peer0.org1 is down") {
		t.Errorf("warnings %q", v.Warnings)
	}
	certs := table(t, v, "Certificates")
	for _, owner := range []string{"peer0.org1", "orderer0", "ca.org1", "admin@Org1", "admin@Org2", "Org1"} {
		r := row(t, certs, owner)
		if c := col(t, certs, r, "Expiry"); c.Status != "ok" {
			t.Errorf("%s certificate %+v", owner, c)
		}
	}
	if n := len(table(t, v, "Sessions between nodes").Rows); n != 0 {
		t.Errorf("%d sessions of stopped nodes", n)
	}
	if _, err := sec.Contracts(ctx); !errors.Is(err, explorer.ErrUnavailable) {
		t.Errorf("contracts with every peer down: %v, want ErrUnavailable", err)
	}
	if _, err := sec.Releases(ctx); !errors.Is(err, explorer.ErrUnavailable) {
		t.Errorf("releases with every peer down: %v, want ErrUnavailable", err)
	}
}
