package main

// This file holds the explorer's pages that read the network rather than
// its index: Network (what `folio network status` shows, plus the session
// graph and certificate expiry), Contracts (`folio contract status` of
// every contract, with `folio peer stats`' enclave tiers) and Releases
// (`folio release status` and `report` of every timed release). Each page
// is computed per request from bounded calls (every node asked in
// parallel, each call with its own timeout, so a down node shows as
// unreachable instead of hanging the page) and cached for at most two
// seconds, so a burst of page loads asks the nodes once. Nothing runs in
// the background.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	crelease "github.com/folio-ledger/folio/client/release"
	rc "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/explorer/web"
	"github.com/folio-ledger/folio/internal/localnet"
)

const (
	// viewCallTimeout bounds one call to one node.
	viewCallTimeout = 5 * time.Second
	// viewPageTimeout bounds a whole page's reads (calls run in parallel,
	// a few in sequence: e.g. the release list, then each release).
	viewPageTimeout = 15 * time.Second
	// viewCacheTTL is how long a computed page is served again.
	viewCacheTTL = 2 * time.Second
	// certWarnAhead is how long before its expiry a certificate is flagged.
	certWarnAhead = 30 * 24 * time.Hour
	// maxReleasesListed bounds the releases read from the contract's list;
	// maxReleasesDetailed those whose report and peer status are read.
	maxReleasesListed   = 500
	maxReleasesDetailed = 20
	// viewParallel bounds the calls one page has in flight at once.
	viewParallel = 16
)

// explorerViews reads the network for the explorer's sections as the
// --as identity (hc), from beside the network (dir: its certificates,
// wallet and process table).
type explorerViews struct {
	g   *globals
	dir string
	hc  *http.Client
	as  string
	now func() time.Time
	// initErr says why the identity-bound clients could not be made.
	initErr error
	// rel makes the release contract's calls and asks peers for their
	// release status; reader lists the --as organisation's peers, which
	// answer channel-wide questions (in order, the first that answers).
	rel    *crelease.Client
	reader []localnet.Node

	network, contracts, releases viewCache

	mu       sync.Mutex
	opsAdmin map[string]*http.Client // by organisation, made on first use
}

// newExplorerViews builds the explorer's network, contracts and releases
// pages over the --as identity's HTTP client hc.
func newExplorerViews(g *globals, dir string, n *localnet.Network, hc *http.Client) web.Sections {
	v := &explorerViews{g: g, dir: dir, hc: hc, as: g.as, now: time.Now, opsAdmin: map[string]*http.Client{}}
	for _, c := range []*viewCache{&v.network, &v.contracts, &v.releases} {
		c.init(viewCacheTTL, v.now)
	}
	v.reader, v.initErr = g.gatewayPeers(n, orgOf(g.as))
	if v.initErr == nil {
		v.rel, v.initErr = g.releaseClientWith(dir, n, hc)
	}
	return web.Sections{
		Network: func(ctx context.Context) (*web.SectionView, error) {
			return v.network.get(ctx, v.buildNetwork)
		},
		Contracts: func(ctx context.Context) (*web.SectionView, error) {
			return v.contracts.get(ctx, v.buildContracts)
		},
		Releases: func(ctx context.Context) (*web.SectionView, error) {
			return v.releases.get(ctx, v.buildReleases)
		},
	}
}

// viewCache serves one computed page for up to ttl. One request computes
// at a time; the others wait for it (or their own cancellation) and get
// its result, so a burst of loads asks the nodes once. Failures are not
// cached.
type viewCache struct {
	sem  chan struct{}
	ttl  time.Duration
	now  func() time.Time
	at   time.Time
	view *web.SectionView
}

func (c *viewCache) init(ttl time.Duration, now func() time.Time) {
	c.sem, c.ttl, c.now = make(chan struct{}, 1), ttl, now
}

func (c *viewCache) get(ctx context.Context, build func(context.Context) (*web.SectionView, error)) (*web.SectionView, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", explorer.ErrUnavailable, ctx.Err())
	}
	defer func() { <-c.sem }()
	if c.view != nil && c.now().Sub(c.at) < c.ttl {
		return c.view, nil
	}
	v, err := build(ctx)
	if err != nil {
		return nil, err
	}
	c.view, c.at = v, c.now()
	return v, nil
}

// forEach runs f(i) for i in [0, n), at most viewParallel at once, and
// returns when every call has.
func forEach(n int, f func(i int)) {
	sem := make(chan struct{}, viewParallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// callCtx is one node call's context.
func callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, viewCallTimeout)
}

func cell(text string) web.Cell           { return web.Cell{Text: text} }
func statusCell(text, st string) web.Cell { return web.Cell{Text: text, Status: st} }
func linkCell(text, href string) web.Cell { return web.Cell{Text: text, Href: href} }

func workHref(id string) string { return "/works/" + url.PathEscape(id) }
func blockHref(n uint64) string { return fmt.Sprintf("/blocks/%d", n) }
func txHref(id string) string   { return "/tx/" + url.PathEscape(id) }
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ---- Network ----------------------------------------------------------

// certInfo is one certificate whose expiry the Network page shows.
type certInfo struct {
	Owner     string // a node's name or a wallet label
	Kind      string // "identity", "TLS", "admin identity", "root CA", ...
	Subject   string
	NotBefore time.Time
	NotAfter  time.Time
	Err       string // why it could not be read
}

// classifyExpiry says how a certificate valid from notBefore to notAfter
// stands at now: "fail" when expired or not yet valid, "warn" within
// certWarnAhead of its expiry, else "ok"; with the text to show.
func classifyExpiry(notBefore, notAfter, now time.Time) (status, text string) {
	switch left := notAfter.Sub(now); {
	case now.Before(notBefore):
		return "fail", "not valid before " + notBefore.UTC().Format(time.RFC3339)
	case left <= 0:
		return "fail", "expired " + approxDuration(-left) + " ago"
	case left < certWarnAhead:
		return "warn", "expires in " + approxDuration(left)
	default:
		return "ok", "expires in " + approxDuration(left)
	}
}

// approxDuration writes a duration for people: "3 days", "5 hours",
// "12 minutes", "40 seconds" (rounded down to its largest unit, from two
// of it on).
func approxDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	case d >= 2*time.Minute:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64(d/time.Second), "second")
}

func (v *explorerViews) buildNetwork(ctx context.Context) (*web.SectionView, error) {
	// network.json is read again: `folio network stop` marks a node stopped
	// in it while the explorer runs.
	n, err := localnet.Load(v.dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, viewPageTimeout)
	defer cancel()
	statuses := localnet.StatusWith(ctx, v.dir, n, v.hc)
	view := networkView(n, statuses, v.certificates(n), v.now())
	view.Notes = append([]string{fmt.Sprintf("Read as %s: every node's information and every peer's signed state root, asked in parallel (%s per node).",
		v.as, viewCallTimeout)}, view.Notes...)
	return view, nil
}

// certificates reads the certificates of every node (identity and TLS,
// from its configuration in the network directory), of every organisation
// (its root) and of every admin identity in the wallet.
func (v *explorerViews) certificates(n *localnet.Network) []certInfo {
	var out []certInfo
	read := func(owner, kind, path string) {
		c := certInfo{Owner: owner, Kind: kind}
		if cert, err := fcrypto.ReadCertificate(path); err != nil {
			c.Err = err.Error()
		} else {
			c.Subject, c.NotBefore, c.NotAfter = cert.Subject.CommonName, cert.NotBefore, cert.NotAfter
		}
		out = append(out, c)
	}
	for _, o := range n.Orgs {
		read(o.Name, "root CA", filepath.Join(v.dir, o.RootCert))
	}
	for _, nd := range n.Nodes {
		file := filepath.Join(v.dir, nd.Config)
		data, err := os.ReadFile(file)
		if err != nil {
			out = append(out, certInfo{Owner: nd.Name, Kind: "configuration", Err: err.Error()})
			continue
		}
		if nd.Role == config.RoleCA {
			c, err := config.ParseCA(file, data, nil)
			if err != nil {
				out = append(out, certInfo{Owner: nd.Name, Kind: "configuration", Err: err.Error()})
				continue
			}
			read(nd.Name, "TLS", c.TLS.Cert)
			continue
		}
		c, err := config.ParseNode(file, data, nil)
		if err != nil {
			out = append(out, certInfo{Owner: nd.Name, Kind: "configuration", Err: err.Error()})
			continue
		}
		read(nd.Name, "identity", c.Identity.Cert)
		read(nd.Name, "TLS", c.TLS.Cert)
	}
	admins, err := walletAdmins(v.dir, v.g.wallet(v.dir))
	if err != nil {
		out = append(out, certInfo{Owner: "wallet", Kind: "admin identity", Err: err.Error()})
		return out
	}
	orgs := make([]string, 0, len(admins))
	for org := range admins {
		orgs = append(orgs, org)
	}
	sort.Strings(orgs)
	for _, org := range orgs {
		id := admins[org]
		c := id.Certificate()
		out = append(out, certInfo{Owner: id.Label(), Kind: "admin identity", Subject: c.Subject.CommonName, NotBefore: c.NotBefore, NotAfter: c.NotAfter})
	}
	return out
}

// nodeStateStatus colours a node's state.
func nodeStateStatus(state string) string {
	switch state {
	case localnet.StateUp:
		return "ok"
	case localnet.StateStarting, localnet.StateStopped:
		return "warn"
	}
	return "fail"
}

// networkView builds the Network page from `network status`' answer and
// the certificates.
func networkView(n *localnet.Network, st []localnet.NodeStatus, certs []certInfo, now time.Time) *web.SectionView {
	view := &web.SectionView{}
	byOrg := map[string][2]int{} // nodes up, nodes
	for _, s := range st {
		c := byOrg[s.Org]
		if s.State == localnet.StateUp {
			c[0]++
		}
		c[1]++
		byOrg[s.Org] = c
	}
	orgs := web.Table{Caption: "Organisations", Columns: []string{"Organisation", "MSP ID", "Kind", "CA", "Nodes up"}}
	for _, o := range n.Orgs {
		c := byOrg[o.Name]
		st := "ok"
		if c[0] < c[1] {
			st = "warn"
		}
		orgs.Rows = append(orgs.Rows, []web.Cell{cell(o.Name), cell(o.MSPID), cell(o.Kind), cell(orDash(o.CA)), statusCell(fmt.Sprintf("%d of %d", c[0], c[1]), st)})
	}

	nodes := web.Table{Caption: "Nodes", Columns: []string{"Node", "Role", "Organisation", "State", "Height", "Version", "Raft role", "Leader", "Term", "Health", "Note"}}
	var leaders []string
	var terms []uint64
	orderersUp := 0
	for _, s := range st {
		height, version, raft, leader, term, health := "-", orDash(s.Version), "-", "-", "-", cell("-")
		answered := s.State == localnet.StateUp || s.State == localnet.StateStarting
		if answered && s.Role != config.RoleCA {
			height = fmt.Sprint(s.Height)
		}
		if s.Role == config.RoleOrderer && answered {
			orderersUp++
			raft, leader, term = orDash(s.RaftRole), orDash(s.RaftLeader), fmt.Sprint(s.RaftTerm)
			if s.RaftRole == "leader" {
				leaders = append(leaders, s.Name)
			}
			terms = append(terms, s.RaftTerm)
		}
		if s.Health != "" {
			hs := "ok"
			if s.Health != "ok" {
				hs = "fail"
			}
			health = statusCell(s.Health, hs)
		}
		nodes.Rows = append(nodes.Rows, []web.Cell{cell(s.Name), cell(s.Role), cell(s.Org), statusCell(s.State, nodeStateStatus(s.State)),
			cell(height), cell(version), cell(raft), cell(leader), cell(term), health, cell(s.Note())})
		switch s.State {
		case localnet.StateUnreachable, localnet.StateDown:
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s is %s", s.Name, s.State))
		case localnet.StateStopped:
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s is stopped", s.Name))
		}
		if s.Health != "" && s.Health != "ok" {
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s: %s: %s", s.Name, s.Health, s.HealthDetail))
		}
	}
	switch {
	case orderersUp > 0 && len(leaders) == 0:
		view.Warnings = append(view.Warnings, "no orderer reports itself Raft leader")
	case len(leaders) > 1:
		view.Warnings = append(view.Warnings, "several orderers report themselves Raft leader: "+strings.Join(leaders, ", "))
	}
	if len(terms) > 0 && slices.Min(terms) != slices.Max(terms) {
		view.Notes = append(view.Notes, fmt.Sprintf("The orderers report Raft terms %d to %d: an election is under way or a node lags.", slices.Min(terms), slices.Max(terms)))
	}

	roots := web.Table{Caption: "State-root agreement", Columns: []string{"Peer", "After block", "State root", "Agreement", "Detail"}}
	for _, s := range st {
		if s.Role != config.RolePeer {
			continue
		}
		row := []web.Cell{cell(s.Name)}
		a := s.Attestation
		switch {
		case s.State != localnet.StateUp && s.State != localnet.StateStarting:
			row = append(row, cell("-"), cell("-"), statusCell("not asked", "warn"), cell("the peer is "+s.State))
		case a == nil:
			row = append(row, cell("-"), cell("-"), statusCell("not compared", "warn"), cell("fewer than two peers answered, or none holds a block"))
		case a.Error != "":
			row = append(row, linkCell(fmt.Sprint(a.Block), blockHref(a.Block)), cell("-"), statusCell("fail", "fail"), cell("no valid attestation: "+a.Error))
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s gave no valid state-root attestation: %s", s.Name, a.Error))
		case s.StateRootDisagrees:
			row = append(row, linkCell(fmt.Sprint(a.Block), blockHref(a.Block)), cell(shortHex(a.StateRoot)), statusCell("fail", "fail"), cell(s.Disagreement))
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s's state root disagrees: %s", s.Name, s.Disagreement))
		default:
			row = append(row, linkCell(fmt.Sprint(a.Block), blockHref(a.Block)), cell(shortHex(a.StateRoot)), statusCell("ok", "ok"), cell("signed root matches the other peers'"))
		}
		roots.Rows = append(roots.Rows, row)
	}

	sessions := sessionTable(st)

	certT := web.Table{Caption: "Certificates", Columns: []string{"Owner", "Certificate", "Subject", "Not after", "Expiry"}}
	for _, c := range certs {
		if c.Err != "" {
			certT.Rows = append(certT.Rows, []web.Cell{cell(c.Owner), cell(c.Kind), cell("-"), cell("-"), statusCell("unreadable: "+c.Err, "fail")})
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s %s certificate unreadable: %s", c.Owner, c.Kind, c.Err))
			continue
		}
		status, text := classifyExpiry(c.NotBefore, c.NotAfter, now)
		certT.Rows = append(certT.Rows, []web.Cell{cell(c.Owner), cell(c.Kind), cell(c.Subject), cell(c.NotAfter.UTC().Format(time.RFC3339)), statusCell(text, status)})
		if status != "ok" {
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s %s certificate %s", c.Owner, c.Kind, text))
		}
	}
	view.Tables = []web.Table{orgs, nodes, sessions, roots, certT}
	return view
}

// shortHex shortens a hex digest for a table.
func shortHex(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return orDash(h)
}

// sessionTable is the session graph as pairs of nodes: one row per pair
// that either end reports, with who dialed (by the reports of both ends),
// the sessions' states, and which ends reported it. Two ends that each
// claim to have dialed, or that disagree, are flagged.
func sessionTable(st []localnet.NodeStatus) web.Table {
	type pairInfo struct {
		dialers   map[string]bool
		states    map[string]bool
		reporters map[string]bool
		sessions  map[string]int // per reporter
	}
	pairs := map[[2]string]*pairInfo{}
	for _, s := range st {
		for _, ss := range s.Sessions {
			other := ss.Name
			if other == "" {
				other = shortHex(ss.Peer)
			}
			k := [2]string{s.Name, other}
			if k[1] < k[0] {
				k[0], k[1] = k[1], k[0]
			}
			p := pairs[k]
			if p == nil {
				p = &pairInfo{dialers: map[string]bool{}, states: map[string]bool{}, reporters: map[string]bool{}, sessions: map[string]int{}}
				pairs[k] = p
			}
			switch ss.DialedBy {
			case "self":
				p.dialers[s.Name] = true
			case "remote":
				p.dialers[other] = true
			}
			if ss.State != "" {
				p.states[ss.State] = true
			}
			p.reporters[s.Name] = true
			p.sessions[s.Name]++
		}
	}
	keys := make([][2]string, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	sorted := func(m map[string]bool) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	t := web.Table{Caption: "Sessions between nodes", Columns: []string{"Node", "Node", "Dialed by", "State", "Reported by"}}
	for _, k := range keys {
		p := pairs[k]
		dial := cell("unknown")
		switch d := sorted(p.dialers); len(d) {
		case 1:
			dial = cell(d[0])
		case 2:
			dial = statusCell("both ("+strings.Join(d, ", ")+")", "warn") // a duplicate not yet resolved
		}
		states := sorted(p.states)
		stCell := cell(orDash(strings.Join(states, ", ")))
		if len(states) == 1 && states[0] == "active" {
			stCell.Status = "ok"
		}
		rep := sorted(p.reporters)
		repCell := statusCell("both ends", "ok")
		if len(rep) == 1 {
			repCell = statusCell(rep[0]+" only", "warn")
		}
		for _, r := range rep {
			if p.sessions[r] > 1 {
				repCell = statusCell(fmt.Sprintf("%s (%s holds %d sessions)", repCell.Text, r, p.sessions[r]), "warn")
			}
		}
		t.Rows = append(t.Rows, []web.Cell{cell(k[0]), cell(k[1]), dial, stCell, repCell})
	}
	return t
}

// ---- Contracts --------------------------------------------------------

// peerAnswer is one peer's answer to a call, or why it gave none.
type peerAnswer[T any] struct {
	Peer string
	Msg  T
	Err  error
}

// enclaveRead is a peer's enclave counters, how they were read, or why not.
type enclaveRead struct {
	Peer  string
	Via   string // "plain HTTP on loopback", "admin@Org1 over mutual TLS"
	Stats enclave.Stats
	Err   string
}

func (v *explorerViews) buildContracts(ctx context.Context) (*web.SectionView, error) {
	if v.initErr != nil {
		return nil, v.initErr
	}
	n, err := localnet.Load(v.dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, viewPageTimeout)
	defer cancel()
	var peers []localnet.Node
	for _, nd := range n.Nodes {
		if nd.Role == config.RolePeer {
			peers = append(peers, nd)
		}
	}
	// The channel's definitions, from the first reading peer that answers.
	var cfg *foliov1.ChannelConfigInfo
	var reader string
	var cfgErrs []string
	for _, p := range v.reader {
		cctx, ccancel := callCtx(ctx)
		resp, err := foliov1connect.NewChainServiceClient(v.hc, "https://"+p.API).GetChannelConfig(cctx, connect.NewRequest(&foliov1.GetChannelConfigRequest{}))
		ccancel()
		if err == nil {
			cfg, reader = resp.Msg, p.Name
			break
		}
		cfgErrs = append(cfgErrs, p.Name+": "+err.Error())
	}
	if cfg == nil {
		return nil, fmt.Errorf("%w: no peer of %s gave the channel configuration (%s)", explorer.ErrUnavailable, orgOf(v.as), strings.Join(cfgErrs, "; "))
	}
	// Every peer's installed packages (contracts installed but not yet
	// activated are known only from them) and enclave counters.
	installed := make([]peerAnswer[*foliov1.InstalledResponse], len(peers))
	encl := make([]enclaveRead, len(peers))
	forEach(2*len(peers), func(i int) {
		if i < len(peers) {
			p := peers[i]
			cctx, ccancel := callCtx(ctx)
			defer ccancel()
			resp, err := foliov1connect.NewLifecycleServiceClient(v.hc, "https://"+p.API).Installed(cctx, connect.NewRequest(&foliov1.InstalledRequest{}))
			installed[i] = peerAnswer[*foliov1.InstalledResponse]{Peer: p.Name, Err: err}
			if err == nil {
				installed[i].Msg = resp.Msg
			}
			return
		}
		encl[i-len(peers)] = v.enclaveOf(ctx, peers[i-len(peers)])
	})
	names := map[string]bool{}
	for _, d := range cfg.GetConfig().GetContracts() {
		names[d.Name] = true
	}
	for _, a := range installed {
		if a.Msg != nil {
			for _, p := range a.Msg.Packages {
				names[p.Name] = true
			}
		}
	}
	list := make([]string, 0, len(names))
	for name := range names {
		list = append(list, name)
	}
	sort.Strings(list)
	// Each contract's status, at the peer that gave the configuration.
	var readerAPI string
	for _, p := range v.reader {
		if p.Name == reader {
			readerAPI = p.API
		}
	}
	lc := foliov1connect.NewLifecycleServiceClient(v.hc, "https://"+readerAPI)
	statuses := make([]peerAnswer[*foliov1.ContractStatus], len(list))
	forEach(len(list), func(i int) {
		cctx, ccancel := callCtx(ctx)
		defer ccancel()
		resp, err := lc.Status(cctx, connect.NewRequest(&foliov1.ContractStatusRequest{Name: list[i]}))
		statuses[i] = peerAnswer[*foliov1.ContractStatus]{Peer: list[i], Err: err}
		if err == nil {
			statuses[i].Msg = resp.Msg
		}
	})
	view := contractsView(cfg.GetConfig().GetContracts(), statuses, installed, encl)
	view.Notes = append([]string{fmt.Sprintf("Read as %s: definitions and contract status as %s sees them at height %d; installed packages and enclave counters from every peer.",
		v.as, reader, cfg.GetHeight())}, view.Notes...)
	return view, nil
}

// enclaveOf reads a peer's enclave counters from its operations listener,
// as `folio peer stats` does. On loopback without listen.operations_tls it
// serves plain HTTP to anyone on the host; otherwise it wants an admin's
// client certificate: the wallet's admin of the peer's organisation.
func (v *explorerViews) enclaveOf(ctx context.Context, nd localnet.Node) enclaveRead {
	r := enclaveRead{Peer: nd.Name}
	if nd.Operations == "" {
		r.Err = "no operations listener in network.json (restart the network with `folio network up` to add one)"
		return r
	}
	tlsNeeded := !localnet.IsLoopbackAddr(nd.Operations)
	file := filepath.Join(v.dir, nd.Config)
	if data, err := os.ReadFile(file); err == nil {
		if c, err := config.ParseNode(file, data, nil); err == nil && c.Listen.OperationsTLS {
			tlsNeeded = true
		}
	}
	hc, base := localnet.OperationsClient, "http://"+nd.Operations
	r.Via = "plain HTTP on loopback"
	if tlsNeeded {
		admin, label, err := v.opsAdminClient(nd.Org)
		if err != nil {
			r.Err = err.Error()
			return r
		}
		hc, base, r.Via = admin, "https://"+nd.Operations, "read as "+label+" over mutual TLS"
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	s, err := enclaveStats(cctx, hc, base)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Stats = s
	return r
}

// opsAdminClient is a client of the wallet's admin of org, for operations
// listeners that require one.
func (v *explorerViews) opsAdminClient(org string) (*http.Client, string, error) {
	label := "admin@" + org
	v.mu.Lock()
	defer v.mu.Unlock()
	if hc := v.opsAdmin[org]; hc != nil {
		return hc, label, nil
	}
	n, err := localnet.Load(v.dir)
	if err != nil {
		return nil, label, err
	}
	id, err := v.g.wallet(v.dir).Load(label)
	if err != nil {
		return nil, label, fmt.Errorf("the operations listener wants an admin's client certificate and the wallet holds no %s: %v", label, err)
	}
	roots, err := localnet.RootPool(v.dir, n)
	if err != nil {
		return nil, label, err
	}
	hc := client.HTTPClient(id, roots)
	v.opsAdmin[org] = hc
	return hc, label, nil
}

// contractsView builds the Contracts page from the channel's definitions,
// each contract's status (statuses[i].Peer holds the contract's name), the
// peers' installed packages and their enclave counters.
func contractsView(defs []*foliov1.ContractDefinition, statuses []peerAnswer[*foliov1.ContractStatus], installed []peerAnswer[*foliov1.InstalledResponse], encl []enclaveRead) *web.SectionView {
	view := &web.SectionView{}
	def := map[string]*foliov1.ContractDefinition{}
	for _, d := range defs {
		def[d.Name] = d
	}
	contracts := web.Table{Caption: "Contracts", Columns: []string{"Contract", "Effective version", "Sequence", "Pending switch", "Endorsement policy", "Confidential", "Halted peers"}}
	installs := web.Table{Caption: "Installs per peer (install records on chain)", Columns: []string{"Contract", "Peer", "Versions installed", "Effective version installed"}}
	acts := web.Table{Caption: "Activations", Columns: []string{"Contract", "Sequence", "Version", "From block", "Committed in block", "Transaction", "Approved by"}}
	for _, sa := range statuses {
		name := sa.Peer
		d := def[name]
		policy, conf := "-", "-"
		if d != nil {
			policy, conf = orDash(d.EndorsementPolicy), fmt.Sprint(d.Confidential)
		}
		if sa.Err != nil {
			contracts.Rows = append(contracts.Rows, []web.Cell{cell(name), statusCell("status unavailable: "+sa.Err.Error(), "fail"), cell("-"), cell("-"), cell(policy), cell(conf), cell("-")})
			continue
		}
		st := sa.Msg
		eff := statusCell(st.EffectiveVersion, "ok")
		if st.EffectiveVersion == "" {
			eff = statusCell("none yet", "warn")
		}
		next := cell("-")
		if st.Next != nil {
			next = statusCell(fmt.Sprintf("version %s at block %d", st.Next.Version, st.Next.StartBlock), "warn")
		}
		halted := statusCell("none", "ok")
		if len(st.HaltedPeers) > 0 {
			halted = statusCell(strings.Join(st.HaltedPeers, ", "), "fail")
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s: halted on %s (no install of version %s)", name, strings.Join(st.HaltedPeers, ", "), st.EffectiveVersion))
		}
		contracts.Rows = append(contracts.Rows, []web.Cell{cell(name), eff, cell(fmt.Sprint(st.Sequence)), next, cell(policy), cell(conf), halted})
		for _, pi := range st.Installs {
			has := cell("-")
			if st.EffectiveVersion != "" {
				if slices.Contains(pi.Versions, st.EffectiveVersion) {
					has = statusCell("yes", "ok")
				} else {
					has = statusCell("no", "fail")
				}
			}
			if st.Next != nil && !slices.Contains(pi.Versions, st.Next.Version) {
				has = statusCell(has.Text+"; pending version "+st.Next.Version+" missing", "warn")
			}
			installs.Rows = append(installs.Rows, []web.Cell{cell(name), cell(pi.Peer), cell(orDash(strings.Join(pi.Versions, ", "))), has})
		}
		for _, a := range st.Activations {
			acts.Rows = append(acts.Rows, []web.Cell{cell(name), cell(fmt.Sprint(a.Sequence)), cell(a.Version), cell(fmt.Sprint(a.StartBlock)),
				linkCell(fmt.Sprint(a.BlockNumber), blockHref(a.BlockNumber)), linkCell(shortHex(a.TxId), txHref(a.TxId)), cell(strings.Join(a.Signers, ", "))})
		}
	}
	local := web.Table{Caption: "Packages installed on each peer", Columns: []string{"Peer", "Packages"}}
	for _, a := range installed {
		if a.Err != nil {
			local.Rows = append(local.Rows, []web.Cell{cell(a.Peer), statusCell("unreachable: "+a.Err.Error(), "fail")})
			continue
		}
		var pkgs []string
		for _, p := range a.Msg.Packages {
			pkgs = append(pkgs, fmt.Sprintf("%s %s (sha256:%s)", p.Name, p.Version, shortHex(hex.EncodeToString(p.PackageHash))))
		}
		local.Rows = append(local.Rows, []web.Cell{cell(a.Peer), cell(orDash(strings.Join(pkgs, "; ")))})
	}
	tiers := web.Table{Caption: "Enclave cache tiers", Columns: []string{"Peer", "Internal hit rate", "Internal hits / misses", "External hit rate", "External hits / misses",
		"Crossings (ecalls + ocalls)", "State reads", "Restarts", "Tamper / stale / rollback", "Read"}}
	vias := map[string]bool{}
	for _, e := range encl {
		if e.Err != "" {
			tiers.Rows = append(tiers.Rows, []web.Cell{cell(e.Peer), statusCell("unavailable: "+e.Err, "fail"), cell("-"), cell("-"), cell("-"), cell("-"), cell("-"), cell("-"), cell("-"), cell(orDash(e.Via))})
			continue
		}
		s := e.Stats
		vias[e.Via] = true
		alarm := statusCell(fmt.Sprintf("%d / %d / %d", s.TamperDetected, s.StaleRejected, s.RollbacksDetected), "ok")
		if s.TamperDetected+s.RollbacksDetected > 0 {
			alarm.Status = "fail"
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s's enclave detected tampering (%d) or rollbacks (%d)", e.Peer, s.TamperDetected, s.RollbacksDetected))
		}
		restarts := statusCell(fmt.Sprint(s.Restarts), "ok")
		if s.Restarts > 0 {
			restarts.Status = "warn"
		}
		tiers.Rows = append(tiers.Rows, []web.Cell{cell(e.Peer), cell(hitRate(s.Internal)), cell(fmt.Sprintf("%d / %d", s.Internal.Hits, s.Internal.Misses)),
			cell(hitRate(s.External)), cell(fmt.Sprintf("%d / %d", s.External.Hits, s.External.Misses)),
			cell(fmt.Sprintf("%d (%d + %d)", s.Crossings, s.Ecalls, s.Ocalls)), cell(fmt.Sprint(s.StateReads)), restarts, alarm, cell(e.Via)})
	}
	if len(vias) > 0 {
		vs := make([]string, 0, len(vias))
		for k := range vias {
			vs = append(vs, k)
		}
		sort.Strings(vs)
		view.Notes = append(view.Notes, "Enclave counters from the peers' operations listeners ("+strings.Join(vs, "; ")+"), as `folio peer stats`.")
	}
	view.Tables = []web.Table{contracts, installs, acts, local, tiers}
	return view
}

// hitRate is a tier's hit rate, or "-" before any lookup.
func hitRate(t enclave.TierStats) string {
	if t.Hits+t.Misses == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*t.HitRate())
}

// ---- Releases ---------------------------------------------------------

// releaseDetail is what the Releases page knows of one release beyond its
// record: the contract's report and, while it matters (before the end
// time), every peer's status.
type releaseDetail struct {
	Report    *crelease.ReportView
	ReportErr string
	Edges     []crelease.EdgeView
}

func (v *explorerViews) buildReleases(ctx context.Context) (*web.SectionView, error) {
	if v.initErr != nil {
		return nil, v.initErr
	}
	ctx, cancel := context.WithTimeout(ctx, viewPageTimeout)
	defer cancel()
	args, _ := json.Marshal(rc.ListArgs{Limit: maxReleasesListed})
	lctx, lcancel := callCtx(ctx)
	raw, err := v.rel.Gateway.Evaluate(lctx, crelease.ReleaseContract, rc.FnList, args)
	lcancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || connect.CodeOf(err) == connect.CodeUnavailable {
			err = fmt.Errorf("%w: %v", explorer.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("the release contract's list: %w", err)
	}
	var list rc.ListView
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("the release contract's list: %w", err)
	}
	now := v.now()
	recs := detailOrder(list.Releases, now)
	n := min(len(recs), maxReleasesDetailed)
	details := make(map[string]*releaseDetail, n)
	for _, r := range recs[:n] {
		details[r.ID] = &releaseDetail{}
	}
	// One call per (release, what): its report, and each peer's status
	// for the releases not yet past their end time.
	type job struct {
		rec  *rc.Record
		peer int // -1: the report
	}
	var jobs []job
	for i := range recs[:n] {
		r := &recs[i]
		jobs = append(jobs, job{rec: r, peer: -1})
		if _, end, err := r.Times(); err == nil && now.Before(end) {
			details[r.ID].Edges = make([]crelease.EdgeView, len(v.rel.Peers))
			for p := range v.rel.Peers {
				jobs = append(jobs, job{rec: r, peer: p})
			}
		}
	}
	forEach(len(jobs), func(i int) {
		j := jobs[i]
		d := details[j.rec.ID]
		cctx, ccancel := callCtx(ctx)
		defer ccancel()
		if j.peer < 0 {
			args, _ := json.Marshal(rc.RefArgs{Work: j.rec.Work, Owner: j.rec.Owner})
			raw, err := v.rel.Gateway.Evaluate(cctx, crelease.ReleaseContract, rc.FnReport, args)
			if err != nil {
				d.ReportErr = err.Error()
				return
			}
			var rv rc.ReportView
			if err := json.Unmarshal(raw, &rv); err != nil {
				d.ReportErr = err.Error()
				return
			}
			d.Report = crelease.Summarize(&rv)
			return
		}
		p := v.rel.Peers[j.peer]
		ev := crelease.EdgeView{Peer: p.Name}
		if st, err := v.rel.PeerStatus(cctx, p.Name, j.rec.ID); err != nil {
			ev.Error = err.Error()
		} else {
			ev.Status = st
		}
		d.Edges[j.peer] = ev
	})
	view := releasesView(recs, details, now)
	view.Notes = append([]string{fmt.Sprintf("Read as %s: the release contract's records and reports, and every peer's release status for the releases not yet past their end time.", v.as)}, view.Notes...)
	if list.More {
		view.Notes = append(view.Notes, fmt.Sprintf("The contract holds more than %d releases: the first %d are listed.", maxReleasesListed, maxReleasesListed))
	}
	if len(recs) > n {
		view.Notes = append(view.Notes, fmt.Sprintf("Details (clients, key servers, peers) are shown for the %d releases nearest in time; %d more are listed without them.", n, len(recs)-n))
	}
	return view, nil
}

// detailOrder sorts releases by how much they matter now: those not yet
// ended first (nearest release time first), then the ended ones (most
// recently ended first).
func detailOrder(recs []rc.Record, now time.Time) []rc.Record {
	out := slices.Clone(recs)
	key := func(r *rc.Record) (bool, time.Time, time.Time) {
		t, e, _ := r.Times()
		return !now.Before(e), t, e
	}
	sort.SliceStable(out, func(i, j int) bool {
		ei, ti, endI := key(&out[i])
		ej, tj, endJ := key(&out[j])
		if ei != ej {
			return !ei
		}
		if !ei {
			return ti.Before(tj)
		}
		return endI.After(endJ)
	})
	return out
}

// releaseCountdown says where now stands in a release's schedule.
func releaseCountdown(t, e, now time.Time) (text, status string) {
	switch {
	case now.Before(t):
		return "opens in " + approxDuration(t.Sub(now)), ""
	case now.Before(e):
		return "open; ends in " + approxDuration(e.Sub(now)), "ok"
	}
	return "ended " + approxDuration(now.Sub(e)) + " ago", ""
}

// releasesView builds the Releases page.
func releasesView(recs []rc.Record, details map[string]*releaseDetail, now time.Time) *web.SectionView {
	view := &web.SectionView{}
	rel := web.Table{Caption: "Timed releases", Columns: []string{"Work", "Owner", "Release time T", "End time E", "Now", "Shares", "Key servers", "Size", "Origin", "Opened", "Access spread"}}
	ks := web.Table{Caption: "Key servers", Columns: []string{"Work", "Key server", "Share", "Reachable", "Released", "Share published on chain"}}
	edges := web.Table{Caption: "Ciphertext at the peers", Columns: []string{"Work", "Peer", "State", "Chunks", "Key send time", "Shares held", "Subscribed clients", "Clock skew"}}
	progress := web.Table{Caption: "Clients' ciphertext progress (live subscriptions)", Columns: []string{"Work", "Peer", "Client", "Ciphertext", "Rate", "Round trip"}}
	clients := web.Table{Caption: "Clients (reported on chain)", Columns: []string{"Work", "Client", "Edge", "Ciphertext complete", "Key received", "Access", "Access after T", "Note"}}
	hist := web.Table{Caption: "Access times after T (opened releases)", Columns: []string{"Work", "Access after T", "Clients", ""}}
	for _, r := range recs {
		t, e, terr := r.Times()
		when, whenSt := "-", "fail"
		if terr == nil {
			when, whenSt = releaseCountdown(t, e, now)
		}
		d := details[r.ID]
		opened, spread := cell("-"), cell("-")
		if d != nil && d.Report != nil {
			if d.Report.Opened {
				opened = statusCell(fmt.Sprintf("yes (%d of %d clients)", len(d.Report.Clients)-d.Report.MissedEnd, len(d.Report.Clients)), "ok")
				if d.Report.SpreadMS >= 0 {
					spread = cell(benchMS(d.Report.SpreadMS))
				}
			} else {
				opened = cell("no: " + d.Report.Reason)
			}
			if d.Report.EarlyAccess > 0 {
				opened.Status = "fail"
				view.Warnings = append(view.Warnings, fmt.Sprintf("release of %s: %d clients accessed it before the release time", r.Work, d.Report.EarlyAccess))
			}
			if d.Report.SharesBeforeT > 0 {
				view.Warnings = append(view.Warnings, fmt.Sprintf("release of %s: %d key shares published before the release time", r.Work, d.Report.SharesBeforeT))
			}
		} else if d != nil && d.ReportErr != "" {
			opened = statusCell("report unavailable: "+d.ReportErr, "fail")
		}
		var servers []string
		for _, k := range r.KeyServers {
			servers = append(servers, k.Name)
		}
		rel.Rows = append(rel.Rows, []web.Cell{linkCell(r.Work, workHref(r.Work)), cell(r.Owner), cell(r.ReleaseAt), cell(r.EndAt), statusCell(when, whenSt),
			cell(fmt.Sprintf("%d of %d", r.Threshold, len(r.KeyServers))), cell(strings.Join(servers, ", ")), cell(fmt.Sprintf("%s in %d chunks", mib(r.Size), r.Chunks)),
			cell(r.Origin), opened, spread})
		if d == nil {
			continue
		}
		// Key servers: the chain's published shares, and what the first
		// answering peer knows of each server.
		published := map[int]string{}
		if d.Report != nil {
			for _, s := range d.Report.SharesPublished {
				published[s.Index] = s.SentAt
			}
		}
		// Each key server as the answering peers other than itself see it
		// (a key server does not probe itself).
		type ksView struct{ asked, reach, released int }
		seen := map[int]*ksView{}
		for _, ev := range d.Edges {
			if ev.Status == nil {
				continue
			}
			for _, k := range ev.Status.KeyServers {
				if k.Name == ev.Peer {
					continue
				}
				kv := seen[k.Index]
				if kv == nil {
					kv = &ksView{}
					seen[k.Index] = kv
				}
				kv.asked++
				if k.Reach {
					kv.reach++
				}
				if k.Released {
					kv.released++
				}
			}
		}
		for _, k := range r.KeyServers {
			reach, released := cell("-"), cell("-")
			if kv := seen[k.Index]; kv != nil {
				of := fmt.Sprintf(" (%d of %d peers)", kv.reach, kv.asked)
				switch {
				case kv.reach == kv.asked:
					reach = statusCell("yes"+of, "ok")
				case kv.reach > 0:
					reach = statusCell("partly"+of, "warn")
				case terr == nil && now.Before(t):
					reach = cell("not checked yet") // the peers probe the key servers as T nears
				default:
					reach = statusCell("no"+of, "fail")
				}
				released = cell(fmt.Sprintf("%s (%d of %d peers)", yesNo(kv.released > 0), kv.released, kv.asked))
			}
			pub := cell("-")
			if at, ok := published[k.Index]; ok {
				pub = statusCell("sent "+at, "ok")
			}
			ks.Rows = append(ks.Rows, []web.Cell{linkCell(r.Work, workHref(r.Work)), cell(k.Name), cell(fmt.Sprint(k.Index)), reach, released, pub})
		}
		for _, ev := range d.Edges {
			if ev.Status == nil {
				edges.Rows = append(edges.Rows, []web.Cell{linkCell(r.Work, workHref(r.Work)), cell(ev.Peer), statusCell("unreachable: "+ev.Error, "fail"), cell("-"), cell("-"), cell("-"), cell("-"), cell("-")})
				continue
			}
			s := ev.Status
			state := cell(s.State)
			switch s.State {
			case "ready", "released":
				state.Status = "ok"
			case "refused":
				state = statusCell("refused: "+s.Reason, "warn")
			}
			chunks := statusCell(fmt.Sprintf("%d of %d", s.ChunksHave, s.ChunksTotal), okIf(s.ChunksTotal > 0 && s.ChunksHave == s.ChunksTotal, "warn"))
			send := "-"
			if s.SendAt > 0 {
				send = time.Unix(0, s.SendAt).UTC().Format(time.RFC3339Nano)
			}
			edges.Rows = append(edges.Rows, []web.Cell{linkCell(r.Work, workHref(r.Work)), cell(ev.Peer), state, chunks, cell(send),
				cell(fmt.Sprint(s.SharesHeld)), cell(fmt.Sprintf("%d (%d subscriptions)", len(s.Subscribers), s.Subscriptions)), cell(fmt.Sprintf("%.0f ms", s.ClockSkewMS))})
			for _, c := range s.Subscribers {
				prog := cell("in progress")
				switch {
				case c.Complete:
					prog = statusCell("complete at "+time.Unix(0, c.DoneAt).UTC().Format(time.RFC3339), "ok")
				case c.PredictedAt > 0:
					at := time.Unix(0, c.PredictedAt)
					prog = cell("expected at " + at.UTC().Format(time.RFC3339))
					if terr == nil && at.After(t) {
						prog.Status = "warn" // it will not hold the ciphertext when the key goes out
					}
				}
				if c.EdgeDecrypt {
					prog.Text += " (edge decrypt)"
				}
				rate, rtt := "-", "-"
				if c.RateBps > 0 {
					rate = fmt.Sprintf("%.0f kbit/s", c.RateBps/1e3)
				}
				if c.RTTMS > 0 {
					rtt = fmt.Sprintf("%.0f ms", c.RTTMS)
				}
				progress.Rows = append(progress.Rows, []web.Cell{linkCell(r.Work, workHref(r.Work)), cell(ev.Peer), cell(c.Client), prog, cell(rate), cell(rtt)})
			}
		}
		if d.Report == nil {
			continue
		}
		for _, c := range d.Report.Clients {
			after := cell("-")
			if c.AccessAfterReleaseMS != nil {
				after = cell(fmt.Sprintf("%+.0f ms", *c.AccessAfterReleaseMS))
			}
			note := c.Error
			if c.EdgeDecrypt {
				note = strings.TrimSpace("edge decrypt " + note)
			}
			noteCell := cell(note)
			switch {
			case c.Early:
				noteCell = statusCell(strings.TrimSpace("EARLY "+note), "fail")
			case c.MissedEnd:
				noteCell = statusCell(strings.TrimSpace("missed the end time "+note), "warn")
			}
			clients.Rows = append(clients.Rows, []web.Cell{linkCell(r.Work, workHref(r.Work)), cell(c.Client), cell(orDash(c.Edge)), cell(orDash(c.CiphertextCompleteAt)),
				cell(orDash(c.KeyReceivedAt)), cell(orDash(c.AccessAt)), after, noteCell})
		}
		if d.Report.Opened {
			for _, b := range accessHistogram(d.Report.Clients) {
				hist.Rows = append(hist.Rows, []web.Cell{linkCell(r.Work, workHref(r.Work)), cell(b.Label), cell(fmt.Sprint(b.Count)), cell(strings.Repeat("█", b.Bar))})
			}
		}
	}
	if len(recs) == 0 {
		view.Notes = append(view.Notes, "No timed release is recorded on the channel (create one with `folio release create`, docs/release.md).")
	}
	view.Tables = []web.Table{rel, ks, edges, progress, clients, hist}
	return view
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// okIf is "ok" when b holds, else otherwise.
func okIf(b bool, otherwise string) string {
	if b {
		return "ok"
	}
	return otherwise
}

// histBucket is one bar of the access-time histogram.
type histBucket struct {
	Label string
	Count int
	Bar   int // bar length, up to histBarMax
}

const histBarMax = 40

// accessBounds are the histogram's upper bounds in milliseconds after T,
// by decades: an access within 10 ms and one 10 s late differ in kind.
var accessBounds = []struct {
	upTo  float64
	label string
}{
	{0, "before T"},
	{10, "0-10 ms"},
	{100, "10-100 ms"},
	{1000, "100 ms-1 s"},
	{10000, "1-10 s"},
	{60000, "10 s-1 min"},
	{600000, "1-10 min"},
}

// accessHistogram counts the clients' access times after T in decade
// buckets (empty ones at either end left out).
func accessHistogram(cs []crelease.ClientReport) []histBucket {
	counts := make([]int, len(accessBounds)+1)
	for _, c := range cs {
		if c.AccessAfterReleaseMS == nil {
			continue
		}
		ms := *c.AccessAfterReleaseMS
		i := sort.Search(len(accessBounds), func(i int) bool {
			if accessBounds[i].upTo == 0 {
				return ms < 0
			}
			return ms < accessBounds[i].upTo
		})
		counts[i]++
	}
	first, last := -1, -1
	peak := 0
	for i, c := range counts {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
			peak = max(peak, c)
		}
	}
	if first < 0 {
		return nil
	}
	var out []histBucket
	for i := first; i <= last; i++ {
		label := "10 min or more"
		if i < len(accessBounds) {
			label = accessBounds[i].label
		}
		bar := 0
		if counts[i] > 0 {
			bar = max(1, counts[i]*histBarMax/peak)
		}
		out = append(out, histBucket{Label: label, Count: counts[i], Bar: bar})
	}
	return out
}
