package releasebench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/folio-ledger/folio/client"
	crelease "github.com/folio-ledger/folio/client/release"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/release/schedule"
)

// Options configure the experiment. Zero values take the defaults.
type Options struct {
	// Dir is the network directory to create. Required; it must not exist.
	Dir string
	// Exe is the folio binary the nodes run. Required.
	Exe string
	// ContractWasm and ReleaseWasm are the contracts. Required.
	ContractWasm, ReleaseWasm []byte
	// Clients per run. Default 100.
	Clients int
	// EdgeClients of run (d) use trusted-edge decryption. Default 30.
	EdgeClients int
	// Size of the work in bytes. Default 10 MB (10,000,000).
	Size int64
	// MinRate and MaxRate bound the clients' link rates (bits/s). Default
	// 56 kbit/s and 100 Mbit/s.
	MinRate, MaxRate float64
	// Runs to do, among "a", "b", "c", "d". Default all.
	Runs []string
	// Prefix of the namespaces' names. Default "flb".
	Prefix string
	// Progress receives a line per event. Default discard.
	Progress io.Writer
	// Logger receives the clients' SDK logs. Default discard.
	Logger *slog.Logger
}

func (o *Options) ensureDefaults() {
	if o.Clients <= 0 {
		o.Clients = 100
	}
	if o.EdgeClients <= 0 {
		o.EdgeClients = 30
	}
	o.EdgeClients = min(o.EdgeClients, o.Clients)
	if o.Size <= 0 {
		o.Size = 10_000_000
	}
	if o.MinRate <= 0 {
		o.MinRate = 56e3
	}
	if o.MaxRate <= 0 {
		o.MaxRate = 100e6
	}
	if len(o.Runs) == 0 {
		o.Runs = []string{"a", "b", "c", "d"}
	}
	if o.Prefix == "" {
		o.Prefix = "flb"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Result is the experiment's outcome.
type Result struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Clients  int       `json:"clients_per_run"`
	Size     int64     `json:"size"`
	MinRate  float64   `json:"min_rate_bps"`
	MaxRate  float64   `json:"max_rate_bps"`
	Runs     []*Run    `json:"runs"`
	// Targets: spread(b) <= 1% of (a) and <= 250 ms; no early access;
	// (d) edge clients within 250 ms of the key clients.
	Targets map[string]bool `json:"targets"`
}

// plan is one run's schedule and clients.
type plan struct {
	run                    *Run
	work, file, hash       string
	releaseAt, endAt       time.Time
	edge, naive, allClient bool
	first                  int // first link of its clients
}

// Experiment performs the experiment: starts the network, prepares the
// namespaces, creates the releases, runs every client and returns the
// figures. It removes the namespaces and stops the network before it
// returns.
func Experiment(ctx context.Context, o Options) (*Result, error) {
	o.ensureDefaults()
	if err := CheckTools(); err != nil {
		return nil, err
	}
	pf := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}
	res := &Result{Started: time.Now().UTC(), Clients: o.Clients, Size: o.Size, MinRate: o.MinRate, MaxRate: o.MaxRate}
	rates := Rates(o.Clients, o.MinRate, o.MaxRate)
	slowest := schedule.TransferTime(o.Size+o.Size/50, rates[0]) // 2% for GCM tags, TLS and HTTP framing

	// Network: two organisations, one peer each (both key servers, both
	// trusted edges), one orderer.
	pf("starting a network of 2 organisations (1 peer each) in %s", o.Dir)
	up, err := localnet.Up(ctx, localnet.UpOptions{Dir: o.Dir, Exe: o.Exe, Progress: o.Progress,
		Spec: localnet.Spec{Orgs: 2, PeersPerOrg: 1, Orderers: 1, ContractWasm: o.ContractWasm, ReleaseWasm: o.ReleaseWasm}})
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = localnet.Down(dctx, up.Dir, 5*time.Second, io.Discard)
	}()
	netw := up.Network
	var peers []crelease.Peer
	relays := map[string]string{}
	rctx, stopRelays := context.WithCancel(ctx)
	var rls []*relay
	defer func() {
		stopRelays()
		for _, r := range rls {
			r.Wait()
		}
	}()
	if err := addHostAddr(ctx); err != nil {
		return nil, err
	}
	for _, nd := range netw.Nodes {
		if nd.Role != config.RolePeer {
			continue
		}
		peers = append(peers, crelease.Peer{Name: nd.Name, Org: nd.Org, NodeID: nd.NodeID, API: nd.API})
		_, port, err := net.SplitHostPort(nd.API)
		if err != nil {
			return nil, err
		}
		r, err := startRelay(rctx, net.JoinHostPort(hostAddr, port), nd.API)
		if err != nil {
			return nil, err
		}
		rls = append(rls, r)
		relays[nd.API] = r.ln.Addr().String()
	}
	pool, err := localnet.RootPool(up.Dir, netw)
	if err != nil {
		return nil, err
	}
	roots := map[string]*x509.Certificate{}
	for _, org := range netw.Orgs {
		c, err := fcrypto.ReadCertificate(filepath.Join(up.Dir, org.RootCert))
		if err != nil {
			return nil, err
		}
		roots[org.MSPID] = c
	}
	wal := wallet.Open(filepath.Join(up.Dir, "wallet"))
	ids := map[string]*client.Identity{}
	for _, l := range []string{"user1@Org1", "user1@Org2"} {
		if ids[l], err = wal.Load(l); err != nil {
			return nil, err
		}
	}
	// Every client is a user of its own, as in the world: a peer bounds
	// the subscriptions of one identity (release.max_subscriptions_per_client,
	// default 16), so 50 fetches of one identity at one peer would be
	// refused beyond the bound and fall back to polling.
	pf("enrolling %d client identities", o.Clients*len(o.Runs))
	users, err := enrollUsers(ctx, up.Dir, netw, o.Clients*len(o.Runs))
	if err != nil {
		return nil, fmt.Errorf("client identities: %w", err)
	}
	for l, id := range users {
		ids[l] = id
	}
	// newClient builds an SDK client as label at home; dial, if set,
	// makes its sockets in a namespace.
	newClient := func(label, home string, dial func(context.Context, string, string) (net.Conn, error)) *crelease.Client {
		hc := client.HTTPClient(ids[label], pool)
		if dial != nil {
			tr := hc.Transport.(*http.Transport)
			tr.DialContext = dial
			tr.TLSHandshakeTimeout = time.Minute // 56 kbit/s
		}
		c := &crelease.Client{HTTP: hc, ID: ids[label], Roots: roots, Peers: peers, Home: home, Logger: o.Logger}
		for _, p := range peers {
			if p.Name == home {
				c.Gateway = client.NewGateway(hc, p.API, netw.Channel, ids[label])
			}
		}
		return c
	}
	owner := newClient("user1@Org1", peers[0].Name, nil)

	// Namespaces: one per client of every run.
	var plans []*plan
	titles := map[string]string{
		"a": "naive: plaintext from the edges at T",
		"b": "Folio: ciphertext ahead, key at T",
		"c": "Folio: ciphertext starts too late, key delayed towards E",
		"d": fmt.Sprintf("Folio: %d of %d clients with trusted-edge decryption", o.EdgeClients, o.Clients),
	}
	for i, name := range o.Runs {
		if titles[name] == "" {
			return nil, fmt.Errorf("unknown run %q (a, b, c, d)", name)
		}
		plans = append(plans, &plan{run: &Run{Name: name, Title: titles[name]}, work: "BENCH-" + name, first: i * o.Clients,
			naive: name == "a", allClient: name == "a", edge: name == "d"})
	}
	var allRates []float64
	for range plans {
		allRates = append(allRates, rates...)
	}
	pf("creating %d network namespaces with tc-shaped links (%.0f kbit/s .. %.0f Mbit/s)", len(allRates), o.MinRate/1e3, o.MaxRate/1e6)
	topo, err := Prepare(ctx, o.Prefix, allRates)
	if err != nil {
		return nil, err
	}
	defer topo.Close()
	relay := func(addr string) (string, bool) { a, ok := relays[addr]; return a, ok }

	// Works and releases. Clients start at t0; the schedules are relative
	// to it so that (a), (b) and (d) all see every client finish.
	tmp, err := os.MkdirTemp("", "folio-bench-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	lead := 30*time.Second + time.Duration(len(plans))*15*time.Second // creating and distributing the releases
	t0 := time.Now().Add(lead).Truncate(time.Second)
	tb := t0.Add(slowest + slowest/10 + 30*time.Second)
	for _, p := range plans {
		switch p.run.Name {
		case "a":
			p.releaseAt, p.endAt = t0.Add(60*time.Second), t0.Add(60*time.Second+slowest*2)
		case "b":
			p.releaseAt, p.endAt = tb, tb.Add(slowest)
		case "c":
			// Ciphertext from t0, release soon after (2 minutes for the
			// default links), end a third of the slowest transfer later:
			// the slowest clients cannot be ready by E.
			p.releaseAt = t0.Add(max(slowest/12, 20*time.Second))
			p.endAt = p.releaseAt.Add(max(slowest/3, 30*time.Second))
		case "d":
			p.releaseAt, p.endAt = tb.Add(20*time.Second), tb.Add(20*time.Second+slowest)
		}
		p.run.ReleaseAt, p.run.EndAt = p.releaseAt, p.endAt
		p.file = filepath.Join(tmp, p.work)
		if p.hash, err = randomFile(p.file, o.Size); err != nil {
			return nil, err
		}
		args, _ := json.Marshal(map[string]string{"id": p.work, "title": "fairness experiment " + p.run.Name, "author": "folio bench",
			"type": "video", "content_hash": p.hash})
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err := owner.Gateway.Submit(cctx, "copyright", "register", [][]byte{args}, client.SubmitOptions{})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("register %s: %w", p.work, err)
		}
		var edges []string
		if p.naive || p.edge {
			for _, pe := range peers {
				edges = append(edges, pe.Name)
			}
		}
		cctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
		cr, err := owner.Create(cctx, crelease.CreateOptions{Work: p.work, File: p.file, ReleaseAt: p.releaseAt, EndAt: p.endAt, TrustedEdges: edges})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("create release %s: %w", p.work, err)
		}
		pf("run %s: release %s of %s at T=%s, E=%s (%d-of-%d key servers, trusted edges %v)", p.run.Name, cr.Record.ID, p.work,
			p.releaseAt.UTC().Format(time.RFC3339), p.endAt.UTC().Format(time.RFC3339), cr.Record.Threshold, len(cr.Record.KeyServers), edges)
	}
	if time.Now().After(t0) {
		return nil, fmt.Errorf("setting up took until %s after the planned client start: the machine is too slow", time.Since(t0))
	}
	last := t0
	for _, p := range plans {
		last = maxTime(last, p.releaseAt)
		if p.naive {
			last = maxTime(last, p.releaseAt.Add(slowest))
		}
	}
	pf("clients start at %s; the slowest link needs about %s for the work; the experiment ends in about %s",
		t0.UTC().Format(time.RFC3339), slowest.Round(time.Second), time.Until(last).Round(time.Second))
	if !sleepUntil(ctx, t0) {
		return nil, ctx.Err()
	}

	// Every client of every run, at once.
	type out struct {
		p *plan
		c ClientResult
	}
	results := make(chan out, len(allRates))
	var wg sync.WaitGroup
	for _, p := range plans {
		for i := 0; i < o.Clients; i++ {
			link := p.first + i
			label, home := userLabel(link, "Org1"), peers[0].Name
			if i%2 == 1 {
				label, home = userLabel(link, "Org2"), peers[len(peers)-1].Name
			}
			edge := p.naive || (p.edge && isEdgeClient(i, o.Clients, o.EdgeClients))
			name := fmt.Sprintf("%s-%03d", p.run.Name, i)
			cl := newClient(label, home, topo.Dialer(link, relay))
			wg.Add(1)
			go func() {
				defer wg.Done()
				cr := ClientResult{Name: label + "/" + name, RateBps: rates[i], EdgeDecrypt: edge}
				outFile := filepath.Join(tmp, name)
				// A client that cannot finish by E gives up a little after it.
				fctx, cancel := context.WithDeadline(ctx, p.endAt.Add(30*time.Second))
				defer cancel()
				fr, err := cl.Fetch(fctx, crelease.FetchOptions{Work: p.work, Out: outFile, Client: name, EdgeDecrypt: edge, Naive: p.naive,
					Deadline: p.endAt.Add(20 * time.Second), NoRelay: true,
					// Decrypt (and check the hash) 3 s after the key: the
					// clients share this process's CPU, real ones do not.
					BeforeDecrypt: func(ctx context.Context) error {
						if !sleepUntil(ctx, time.Now().Add(3*time.Second)) {
							return ctx.Err()
						}
						return nil
					}})
				os.Remove(outFile)
				os.Remove(outFile + ".part")
				os.Remove(outFile + ".tmp")
				rel := func(t time.Time) *float64 {
					if t.IsZero() {
						return nil
					}
					v := float64(t.Sub(p.releaseAt)) / float64(time.Millisecond)
					return &v
				}
				if fr != nil {
					cr.CiphertextMS, cr.KeyMS, cr.AccessMS = rel(fr.CiphertextCompleteAt), rel(fr.KeyReceivedAt), rel(fr.AccessAt)
				}
				if err != nil {
					cr.Error = err.Error()
					if errors.Is(err, context.DeadlineExceeded) {
						cr.Error = "no access by the end time (" + err.Error() + ")"
					}
				}
				results <- out{p, cr}
			}()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	got := 0
	for got < len(allRates) {
		select {
		case r := <-results:
			got++
			r.p.run.Clients = append(r.p.run.Clients, r.c)
		case <-tick.C:
			pf("%d of %d clients finished", got, len(allRates))
		case <-done:
		}
	}
	for _, p := range plans {
		sort.Slice(p.run.Clients, func(i, j int) bool { return p.run.Clients[i].RateBps < p.run.Clients[j].RateBps })
		p.run.Summary = Summarize(p.run, p.allClient)
		res.Runs = append(res.Runs, p.run)
	}
	res.Finished = time.Now().UTC()
	res.Targets = targets(res.Runs)
	return res, nil
}

// Resummarize recomputes every run's figures and the targets from the
// clients' raw times (a saved result read back, after a change of the
// figures' definitions). Run "a" is the naive run: its spread covers every
// client.
func Resummarize(res *Result) {
	for _, r := range res.Runs {
		r.Summary = Summarize(r, r.Name == "a")
	}
	res.Targets = targets(res.Runs)
}

// isEdgeClient picks n of the clients spread over the rates.
func isEdgeClient(i, clients, n int) bool {
	if n <= 0 {
		return false
	}
	// Clients i with floor(i*n/clients) != floor((i+1)*n/clients) are n
	// clients evenly spread.
	return (i*n)/clients != ((i+1)*n)/clients
}

func targets(runs []*Run) map[string]bool {
	by := map[string]*Run{}
	for _, r := range runs {
		by[r.Name] = r
	}
	t := map[string]bool{}
	early := 0
	for _, r := range runs {
		early += r.Summary.Early
	}
	t["no early access in any run"] = early == 0
	if a, b := by["a"], by["b"]; a != nil && b != nil && a.Summary.SpreadMS > 0 && b.Summary.SpreadMS >= 0 {
		t["spread(b) <= 1% of spread(a)"] = b.Summary.SpreadMS <= a.Summary.SpreadMS/100
	}
	if b := by["b"]; b != nil && b.Summary.SpreadMS >= 0 {
		t["spread(b) <= 250 ms"] = b.Summary.SpreadMS <= 250
	}
	if d := by["d"]; d != nil && d.Summary.SpreadMS >= 0 {
		t["(d) edge-decrypt clients within 250 ms of the key clients"] = d.Summary.EdgeVsKeyMS <= 250
	}
	return t
}

func randomFile(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), f.Close()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// userLabel is the label of the bench's user for client link (a client of
// a run) in org.
func userLabel(link int, org string) string { return fmt.Sprintf("bench%03d@%s", link, org) }

// enrollUsers registers and enrolls n client identities in each peer
// organisation (userLabel 0..n-1), signed by each organisation's admin.
func enrollUsers(ctx context.Context, dir string, netw *localnet.Network, n int) (map[string]*client.Identity, error) {
	wal := wallet.Open(filepath.Join(dir, "wallet"))
	out := map[string]*client.Identity{}
	for _, org := range netw.Orgs {
		if org.Name == localnet.OrdererOrg {
			continue
		}
		admin, err := wal.Load("admin@" + org.Name)
		if err != nil {
			return nil, err
		}
		caNode, err := netw.Node(org.CA)
		if err != nil {
			return nil, err
		}
		root, err := fcrypto.ReadCertificate(filepath.Join(dir, org.RootCert))
		if err != nil {
			return nil, err
		}
		ca := client.NewCA(caNode.API, root)
		for i := range n {
			label := userLabel(i, org.Name)
			name, _, _ := strings.Cut(label, "@")
			secret, err := ca.Register(ctx, admin, name, "client")
			if err != nil {
				return nil, fmt.Errorf("register %s: %w", label, err)
			}
			e, err := ca.Enroll(ctx, name, secret, client.EnrollOptions{})
			if err != nil {
				return nil, fmt.Errorf("enroll %s: %w", label, err)
			}
			if out[label], err = client.NewIdentity(org.MSPID, e.Cert, e.Key); err != nil {
				return nil, fmt.Errorf("%s: %w", label, err)
			}
		}
	}
	return out, nil
}
