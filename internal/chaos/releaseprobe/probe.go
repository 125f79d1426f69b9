package releaseprobe

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	crelease "github.com/folio-ledger/folio/client/release"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/localnet"
)

// Config describes a probe.
type Config struct {
	// NetDir is the local network's directory (folio network up).
	NetDir string
	// ReleaseAt (T) and EndAt (E): now < T < E; Start takes a few
	// seconds to register and create the release before T.
	ReleaseAt, EndAt time.Time
	// Size of the random work in bytes. Default 256 KiB (a work of 1 MiB
	// or less is all tail: no clear byte before T for anyone).
	Size int64
	// Clients is the number of honest clients, alternately key and
	// edge-decrypt clients (at least one of each). Default 4.
	Clients int
	// Seed makes the work's bytes and the clients' peers reproducible.
	Seed int64
	// Owner is the wallet identity that registers and releases the work.
	// Default user1@Org1.
	Owner string
	// Tolerance of time comparisons. Default DefaultTolerance (why: there).
	Tolerance time.Duration
	// Logger receives progress notes. Default: discard.
	Logger *slog.Logger
}

// Probe is a running release probe; Wait ends it.
type Probe struct {
	cfg     Config
	rec     string // release ID
	work    string
	dir     string
	cancel  context.CancelFunc
	done    chan struct{}
	log     *slog.Logger
	peers   []crelease.Peer
	trusted []string
	mu      struct {
		sync.Mutex
		obs     []Observation
		errs    []string
		answers map[string]int
		seen    map[string]bool
	}
}

// setup is what Start loads from the network directory.
type setup struct {
	n       *localnet.Network
	pool    *x509.CertPool
	roots   map[string]*x509.Certificate
	wallet  *wallet.Wallet
	users   []string // non-admin wallet labels of peer organisations
	apiPeer map[string]string
}

func load(dir string) (*setup, error) {
	n, err := localnet.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("release probe: load network %s: %w", dir, err)
	}
	pool, err := localnet.RootPool(dir, n)
	if err != nil {
		return nil, fmt.Errorf("release probe: root certificates: %w", err)
	}
	s := &setup{n: n, pool: pool, roots: map[string]*x509.Certificate{}, wallet: wallet.Open(filepath.Join(dir, "wallet")), apiPeer: map[string]string{}}
	peerOrgs := map[string]bool{}
	for _, o := range n.Orgs {
		if o.Kind != "peer" {
			continue
		}
		peerOrgs[o.Name] = true
		c, err := fcrypto.ReadCertificate(filepath.Join(dir, o.RootCert))
		if err != nil {
			return nil, fmt.Errorf("release probe: root of %s: %w", o.Name, err)
		}
		s.roots[o.MSPID] = c
	}
	entries, err := s.wallet.List()
	if err != nil {
		return nil, fmt.Errorf("release probe: wallet: %w", err)
	}
	for _, e := range entries {
		// Never an admin: an admin may act for its whole organisation.
		if peerOrgs[e.Org] && !strings.HasPrefix(e.Name, "admin") {
			s.users = append(s.users, e.Label())
		}
	}
	sort.Strings(s.users)
	if len(s.users) == 0 {
		return nil, fmt.Errorf("release probe: no user identity of a peer organisation in %s", s.wallet.Dir())
	}
	for _, nd := range n.Nodes {
		if nd.Role == config.RolePeer {
			s.apiPeer[nd.API] = nd.Name
		}
	}
	return s, nil
}

// releaseClient is the SDK client of identity label, its HTTP transport
// tapped when t is not nil (t's base is set here).
func (s *setup) releaseClient(label string, t *tap) (*crelease.Client, *client.Identity, error) {
	id, err := s.wallet.Load(label)
	if err != nil {
		return nil, nil, fmt.Errorf("release probe: identity %s: %w", label, err)
	}
	hc := client.HTTPClient(id, s.pool)
	if t != nil {
		t.base = hc.Transport
		hc = &http.Client{Transport: t}
	}
	var eps []client.Endpoint
	c := &crelease.Client{HTTP: hc, ID: id, Roots: s.roots}
	for _, nd := range s.n.Nodes {
		if nd.Role != config.RolePeer {
			continue
		}
		c.Peers = append(c.Peers, crelease.Peer{Name: nd.Name, Org: nd.Org, NodeID: nd.NodeID, API: nd.API})
		if nd.Org == id.Org() {
			eps = append(eps, client.Endpoint{Name: nd.Name, Addr: nd.API})
		}
	}
	if len(eps) == 0 {
		return nil, nil, fmt.Errorf("release probe: organisation %s of %s has no peer", id.Org(), label)
	}
	gw, err := client.NewGatewayWithOptions(hc, id, client.GatewayOptions{Channel: s.n.Channel, Endpoints: eps})
	if err != nil {
		return nil, nil, fmt.Errorf("release probe: gateway for %s: %w", label, err)
	}
	c.Gateway = gw
	return c, id, nil
}

// Start registers a random work as cfg.Owner, creates its timed release
// (T, E; the first peer of every organisation a key server and a trusted
// edge) and starts the clients. It returns once the release is on chain
// and uploaded; Wait collects the result.
func Start(ctx context.Context, cfg Config) (*Probe, error) {
	if cfg.Size <= 0 {
		cfg.Size = 256 << 10
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 4
	}
	cfg.Clients = max(cfg.Clients, 2)
	if cfg.Owner == "" {
		cfg.Owner = "user1@Org1"
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if !cfg.ReleaseAt.After(time.Now()) || !cfg.EndAt.After(cfg.ReleaseAt) {
		return nil, fmt.Errorf("release probe: need now < T < E (T %s, E %s)", cfg.ReleaseAt.Format(time.RFC3339Nano), cfg.EndAt.Format(time.RFC3339Nano))
	}
	s, err := load(cfg.NetDir)
	if err != nil {
		return nil, err
	}
	p := &Probe{cfg: cfg, done: make(chan struct{}), log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.mu.answers = map[string]int{}
	p.mu.seen = map[string]bool{}
	owner, oid, err := s.releaseClient(cfg.Owner, nil)
	if err != nil {
		return nil, err
	}
	p.peers = owner.Peers
	orgFirst := map[string]bool{}
	for _, pr := range owner.Peers {
		if !orgFirst[pr.Org] {
			orgFirst[pr.Org] = true
			p.trusted = append(p.trusted, pr.Name)
		}
	}
	if p.dir, err = os.MkdirTemp("", "folio-releaseprobe-"); err != nil {
		return nil, fmt.Errorf("release probe: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(p.dir)
		}
	}()
	// The work: random bytes from the seed and a nonce, so that a run
	// again with the same seed on the same network registers a new hash.
	var nonce [8]byte
	if _, err := crand.Read(nonce[:]); err != nil {
		return nil, err
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(cfg.Seed))
	copy(seed[8:], nonce[:])
	data := make([]byte, cfg.Size)
	rng := rand.NewChaCha8(seed)
	_, _ = rng.Read(data)
	sum := sha256.Sum256(data)
	p.work = fmt.Sprintf("chaos-release-%d-%s", cfg.Seed, hex.EncodeToString(nonce[:4]))
	file := filepath.Join(p.dir, "work.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return nil, fmt.Errorf("release probe: %w", err)
	}
	args, _ := json.Marshal(map[string]any{"id": p.work, "title": "release probe " + p.work, "author": oid.Label(),
		"content_hash": "sha256:" + hex.EncodeToString(sum[:])})
	if _, err := owner.Gateway.Submit(ctx, crelease.CopyrightContract, "register", [][]byte{args}, client.SubmitOptions{}); err != nil {
		return nil, fmt.Errorf("release probe: register %s as %s: %w", p.work, cfg.Owner, err)
	}
	created, err := owner.Create(ctx, crelease.CreateOptions{Work: p.work, File: file, ReleaseAt: cfg.ReleaseAt, EndAt: cfg.EndAt, TrustedEdges: p.trusted})
	if err != nil {
		return nil, fmt.Errorf("release probe: create the release of %s: %w", p.work, err)
	}
	p.rec = created.Record.ID
	p.log.Info("release probe: release created", "work", p.work, "release", p.rec, "T", cfg.ReleaseAt, "E", cfg.EndAt, "trusted_edges", p.trusted)

	// The clients end a little after E: an honest fetch gives up at E,
	// and the adversary has nothing left to try then.
	runCtx, cancel := context.WithDeadline(context.Background(), cfg.EndAt.Add(15*time.Second))
	p.cancel = cancel
	order := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7e1ea5e))
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		role := RoleKey
		if i%2 == 1 {
			role = RoleEdge
		}
		name := fmt.Sprintf("%s-%d", role, i+1)
		label := s.users[i%len(s.users)]
		t := &tap{client: name, role: role, peers: s.apiPeer, record: p.observe, fail: p.fail}
		c, _, err := s.releaseClient(label, t)
		if err != nil {
			cancel()
			wg.Wait()
			return nil, err
		}
		edge := p.peers[order.IntN(len(p.peers))].Name
		if role == RoleEdge {
			edge = p.trusted[order.IntN(len(p.trusted))]
		}
		wg.Add(1)
		go func() { defer wg.Done(); p.honest(runCtx, c, name, role, edge) }()
	}
	// The adversary: a user that is not the owner when there is one.
	adv := s.users[0]
	for _, u := range s.users {
		if u != cfg.Owner {
			adv = u
			break
		}
	}
	advID, err := s.wallet.Load(adv)
	if err != nil {
		cancel()
		wg.Wait()
		return nil, fmt.Errorf("release probe: identity %s: %w", adv, err)
	}
	a := &adversary{p: p, hc: client.HTTPClient(advID, s.pool), label: advID.Label()}
	// Its subscriptions and plaintext requests end at E: after it, an
	// edge opens the work for anyone (step 7), nothing is early.
	advCtx, advCancel := context.WithDeadline(runCtx, cfg.EndAt)
	var advWG sync.WaitGroup
	for _, pr := range p.peers {
		advWG.Add(1)
		go func() { defer advWG.Done(); a.run(advCtx, pr) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); advWG.Wait(); advCancel() }()
	go func() { wg.Wait(); close(p.done) }()
	ok = true
	return p, nil
}

// Release is the release's ID; Work the work's.
func (p *Probe) Release() string { return p.rec }

// Work is the released work's ID.
func (p *Probe) Work() string { return p.work }

func (p *Probe) observe(o Observation) {
	p.mu.Lock()
	p.mu.obs = append(p.mu.obs, o)
	p.mu.Unlock()
}

func (p *Probe) fail(s string) {
	p.mu.Lock()
	p.mu.errs = append(p.mu.errs, s)
	p.mu.Unlock()
}

// note records a distinct remark (Result.Seen).
func (p *Probe) note(s string) {
	p.mu.Lock()
	p.mu.seen[s] = true
	p.mu.Unlock()
}

func (p *Probe) answer(peer, rpc string, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	p.mu.Lock()
	p.mu.answers[peer+" "+rpc+" "+code]++
	p.mu.Unlock()
}

// honest fetches the work as the CLI does until it opens it or E has
// passed, starting again after a failure (faults may make a fetch fail;
// the SDK resumes from what it holds).
func (p *Probe) honest(ctx context.Context, c *crelease.Client, name string, role Role, edge string) {
	out := filepath.Join(p.dir, name+".out")
	for attempt := 1; ctx.Err() == nil; attempt++ {
		res, err := c.Fetch(ctx, crelease.FetchOptions{Work: p.work, Out: out, EdgeDecrypt: role == RoleEdge,
			Client: fmt.Sprintf("%s-%d", name, attempt), Edge: edge, Deadline: p.cfg.EndAt})
		if err == nil && !res.AccessAt.IsZero() {
			p.observe(Observation{Client: name, Role: role, Peer: res.Edge, RPC: "Fetch", Kind: KindOpened, At: res.AccessAt})
			p.log.Info("release probe: opened", "client", name, "after_T", res.AccessAt.Sub(p.cfg.ReleaseAt))
			return
		}
		if err == nil {
			err = errors.New("fetch returned without an access time")
		}
		p.fail(fmt.Sprintf("%s: fetch %d via %s: %v", name, attempt, edge, err))
		if !time.Now().Before(p.cfg.EndAt) {
			return
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Wait waits until the clients are done (shortly after E) or ctx ends
// (then it stops them), and judges what they obtained.
func (p *Probe) Wait(ctx context.Context) Result {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		<-p.done
	}
	p.cancel()
	os.RemoveAll(p.dir)
	p.mu.Lock()
	defer p.mu.Unlock()
	res := Evaluate(p.mu.obs, Rules{ReleaseAt: p.cfg.ReleaseAt, Size: p.cfg.Size, Tolerance: p.cfg.Tolerance})
	res.EndAt, res.Release, res.Work = p.cfg.EndAt, p.rec, p.work
	res.Errors = append([]string(nil), p.mu.errs...)
	res.Answers = make(map[string]int, len(p.mu.answers))
	for k, v := range p.mu.answers {
		res.Answers[k] = v
	}
	for s := range p.mu.seen {
		res.Seen = append(res.Seen, s)
	}
	sort.Strings(res.Seen)
	return res
}

// adversary asks every peer for what it can get early (docs/release.md,
// "Client API": every RPC a client may call), recording every answer.
type adversary struct {
	p     *Probe
	hc    *http.Client
	label string
}

// advName is the adversary's client name at a peer for one purpose.
func (a *adversary) name(peer, what string) string { return a.label + "/adv-" + what + "-" + peer }

func (a *adversary) run(ctx context.Context, pr crelease.Peer) {
	api := foliov1connect.NewReleaseServiceClient(a.hc, "https://"+pr.API, connect.WithReadMaxBytes(16<<20))
	var wg sync.WaitGroup
	defer wg.Wait()
	// A plain subscription, held until E, records the shares pushed.
	wg.Add(1)
	go func() { defer wg.Done(); a.subscribe(ctx, api, pr.Name, a.name(pr.Name, "sub"), false) }()
	// At a trusted edge: an edge-decrypt subscription and its plaintext,
	// without any timed probe (no measurement: the send starts at the
	// target) and, in a second stream, after lying about its rate.
	for _, te := range a.p.trusted {
		if te == pr.Name {
			for _, lie := range []bool{false, true} {
				wg.Add(1)
				go func() { defer wg.Done(); a.plaintext(ctx, api, pr.Name, lie) }()
			}
		}
	}
	// Polls of every unary RPC until T plus the tolerance and a little:
	// what becomes available then shows the probe sees it.
	until := a.p.cfg.ReleaseAt.Add(a.p.cfg.Tolerance + 2*time.Second)
	once := true
	for ctx.Err() == nil && time.Now().Before(until) {
		a.poll(ctx, api, pr.Name, once)
		once = false
		if !sleep(ctx, 300*time.Millisecond) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// poll calls the unary RPCs once (the content ones only the first time:
// ciphertext is not secret, asking once shows it is served).
func (a *adversary) poll(ctx context.Context, api foliov1connect.ReleaseServiceClient, peer string, first bool) {
	rid := a.p.rec
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sh, err := api.GetShares(cctx, connect.NewRequest(&foliov1.GetSharesRequest{ReleaseId: rid}))
	a.p.answer(peer, "GetShares", err)
	if err == nil {
		at := time.Now()
		for _, s := range sh.Msg.GetShares() {
			a.p.observe(Observation{Client: "adversary", Role: RoleAdversary, Peer: peer, RPC: "GetShares", Kind: KindShare, At: at, Index: int(s.GetIndex())})
		}
	}
	st, err := api.GetReleaseStatus(cctx, connect.NewRequest(&foliov1.GetReleaseStatusRequest{ReleaseId: rid}))
	a.p.answer(peer, "GetReleaseStatus", err)
	if err == nil {
		for _, e := range st.Msg.GetEarlyShares() {
			a.p.note(fmt.Sprintf("%s refused an early share: %s", peer, e))
		}
		if ms := st.Msg.GetClockSkewMs(); ms > float64(a.p.cfg.Tolerance.Milliseconds()) || -ms > float64(a.p.cfg.Tolerance.Milliseconds()) {
			a.p.note(fmt.Sprintf("%s reported a clock skew beyond the bound (%.0f ms seen before T)", peer, ms))
		}
	}
	_, err = api.ReportProgress(cctx, connect.NewRequest(&foliov1.ReportProgressRequest{ReleaseId: rid, Client: a.name(peer, "sub"), Bytes: 1, Total: 1, Complete: true, RateBps: 8}))
	a.p.answer(peer, "ReportProgress", err)
	if !first {
		return
	}
	_, err = api.GetKeyServer(cctx, connect.NewRequest(&foliov1.GetKeyServerRequest{}))
	a.p.answer(peer, "GetKeyServer", err)
	_, err = api.GetManifest(cctx, connect.NewRequest(&foliov1.GetManifestRequest{ReleaseId: rid}))
	a.p.answer(peer, "GetManifest", err)
	a.p.answer(peer, "GetChunk", drain(api.GetChunk(cctx, connect.NewRequest(&foliov1.GetChunkRequest{ReleaseId: rid, Index: 0}))))
	a.p.answer(peer, "Probe", drain(api.Probe(cctx, connect.NewRequest(&foliov1.ProbeRequest{Bytes: 16 << 10}))))
	// Uploads are the owner's, at the origin: they must be refused.
	_, err = api.PutManifest(cctx, connect.NewRequest(&foliov1.PutManifestRequest{ReleaseId: rid, Manifest: []byte("not a manifest")}))
	a.p.answer(peer, "PutManifest", err)
	up := api.PutChunk(cctx)
	err = up.Send(&foliov1.PutChunkRequest{ReleaseId: rid, Index: 0, Data: []byte("not a chunk")})
	if _, cerr := up.CloseAndReceive(); err == nil || errors.Is(err, io.EOF) {
		err = cerr
	}
	a.p.answer(peer, "PutChunk", err)
	if err == nil {
		a.p.fail(fmt.Sprintf("adversary: %s accepted a chunk upload from a client that is not the owner", peer))
	}
}

// drain reads a server stream to its end.
func drain[T any](s *connect.ServerStreamForClient[T], err error) error {
	if err != nil {
		return err
	}
	defer s.Close()
	for s.Receive() {
	}
	return s.Err()
}

// subscribe holds a subscription at a peer until ctx ends, reconnecting,
// and records the shares and schedules it is sent.
func (a *adversary) subscribe(ctx context.Context, api foliov1connect.ReleaseServiceClient, peer, name string, edge bool) {
	// The session ID (letters, digits, _ and -) is stable across
	// reconnects, as a fetch's is.
	sum := sha256.Sum256([]byte(name))
	req := &foliov1.SubscribeRequest{ReleaseId: a.p.rec, Client: name, EdgeDecrypt: edge, Session: hex.EncodeToString(sum[:12])}
	for ctx.Err() == nil {
		s, err := api.Subscribe(ctx, connect.NewRequest(req))
		if err == nil {
			for s.Receive() {
				m, at := s.Msg(), time.Now()
				switch m.GetType() {
				case foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE:
					a.p.observe(Observation{Client: "adversary", Role: RoleAdversary, Peer: peer, RPC: "Subscribe", Kind: KindShare, At: at, Index: int(m.GetShareIndex())})
				case foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SCHEDULE:
					if st := m.GetStartAtUnixNano(); st > 0 && edge {
						a.p.observe(Observation{Client: "adversary", Role: RoleAdversary, Peer: peer, RPC: "Subscribe", Kind: KindStart, At: at, Start: time.Unix(0, st)})
					}
				}
			}
			err = s.Err()
			s.Close()
		}
		a.p.answer(peer, "Subscribe", err)
		if !sleep(ctx, 500*time.Millisecond) {
			return
		}
	}
}

// plaintext subscribes for edge decryption at a trusted edge and asks for
// the plaintext at once, again whenever a stream ends, until it holds the
// tail key or ctx ends; lie first reports a rate of 8 bit/s (a lying
// client must gain nothing: docs/release.md, "Trust").
func (a *adversary) plaintext(ctx context.Context, api foliov1connect.ReleaseServiceClient, peer string, lie bool) {
	what := "edge"
	if lie {
		what = "liar"
	}
	name := a.name(peer, what)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	wg.Add(1)
	go func() { defer wg.Done(); a.subscribe(sctx, api, peer, name, true) }()
	for stream := 1; ctx.Err() == nil; stream++ {
		if lie {
			_, err := api.ReportProgress(ctx, connect.NewRequest(&foliov1.ReportProgressRequest{ReleaseId: a.p.rec, Client: name, RateBps: 8, Bytes: 0, Total: a.p.cfg.Size}))
			a.p.answer(peer, "ReportProgress", err)
		}
		s, err := api.GetPlaintext(ctx, connect.NewRequest(&foliov1.GetPlaintextRequest{ReleaseId: a.p.rec, Client: name}))
		gotKey := false
		if err == nil {
			var got int64
			tailAt := int64(-1)
			for s.Receive() {
				at := time.Now()
				observePiece(s.Msg(), &got, &tailAt, func(o Observation) {
					o.Client, o.Role, o.Peer, o.RPC, o.At, o.Stream = "adversary/"+what, RoleAdversary, peer, "GetPlaintext", at, stream
					gotKey = gotKey || o.Kind == KindTailKey
					a.p.observe(o)
				})
			}
			err = s.Err()
			s.Close()
		}
		a.p.answer(peer, "GetPlaintext", err)
		if gotKey || !time.Now().Before(a.p.cfg.EndAt) {
			return
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return
		}
	}
}
