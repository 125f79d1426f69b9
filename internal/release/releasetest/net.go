package releasetest

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	crelease "github.com/folio-ledger/folio/client/release"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/release"
)

// Options shape a test network.
type Options struct {
	// Orgs and PeersPerOrg: default 2 and 1.
	Orgs, PeersPerOrg int
	// Logger for the peers. Default: discard.
	Logger *slog.Logger
	// Tune adjusts a peer's release options before it starts (clock skew,
	// intervals).
	Tune func(name string, o *release.PeerOptions)
	// RefusePeers: the chain refuses submissions by peers, as the real
	// endorsers do.
	RefusePeers bool
	// ListenIP is where peers listen. Default 127.0.0.1.
	ListenIP net.IP
	// DataDir holds the peers' data. Default: a test temporary directory.
	DataDir string
	// Impostors are peers of the channel that do not run the release
	// service but the session protocols returned here (a malicious or
	// broken peer); called once every node exists.
	Impostors map[string]func(n *Net, self *Node) map[string]p2p.CallHandler
}

// Net is a running test network.
type Net struct {
	C       *Consortium
	Chain   *Chain
	Channel *foliov1.ChannelConfig
	Peers   []*Node
	o       Options
}

// Node is one peer.
type Node struct {
	Name    string
	Org     int
	Self    *identity.SigningIdentity
	Host    *p2p.Host
	API     string
	Service *release.Peer
	stop    func()
}

type callerKey struct{}

// MaxMessageBytes bounds a client API request message, as a node's
// default limits.max_message_bytes does.
const MaxMessageBytes = 4 << 20

// Start creates the consortium, chain and peers and starts them; they
// stop when the test ends.
func Start(tb testing.TB, o Options) *Net {
	tb.Helper()
	if o.Orgs == 0 {
		o.Orgs = 2
	}
	if o.PeersPerOrg == 0 {
		o.PeersPerOrg = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ListenIP == nil {
		o.ListenIP = net.IPv4(127, 0, 0, 1)
	}
	if o.DataDir == "" {
		o.DataDir = tb.TempDir()
	}
	n := &Net{C: NewConsortium(tb, o.Orgs), Chain: NewChain(), o: o}
	n.Chain.RefusePeers = o.RefusePeers
	n.Channel = &foliov1.ChannelConfig{ChannelId: "test"}
	for _, org := range n.C.Orgs {
		n.Channel.Orgs = append(n.Channel.Orgs, &foliov1.OrgConfig{Name: org.Name, MspId: org.MSPID})
	}
	type creds struct {
		self *identity.SigningIdentity
		tls  tls.Certificate
		ln   net.Listener
	}
	var all []creds
	type slot struct {
		name string
		org  int
	}
	var slots []slot
	for org := 0; org < o.Orgs; org++ {
		for j := 0; j < o.PeersPerOrg; j++ {
			slots = append(slots, slot{fmt.Sprintf("peer%d.org%d", j, org+1), org})
		}
	}
	for name := range o.Impostors {
		slots = append(slots, slot{name, 0})
	}
	{
		for _, x := range slots {
			name, org := x.name, x.org
			self := n.C.Identity(tb, org, name, identity.RolePeer)
			ln, err := net.Listen("tcp", net.JoinHostPort(o.ListenIP.String(), "0"))
			if err != nil {
				tb.Fatal(err)
			}
			all = append(all, creds{self, n.C.TLS(tb, org, name, identity.RolePeer, o.ListenIP), ln})
			n.Channel.Peers = append(n.Channel.Peers, &foliov1.NodeEndpoint{Name: name, Org: n.C.Orgs[org].Name, NodeId: self.ID(), P2PAddress: ln.Addr().String()})
			n.Peers = append(n.Peers, &Node{Name: name, Org: org, Self: self})
		}
	}
	for i, nd := range n.Peers {
		addr := all[i].ln.Addr().String()
		all[i].ln.Close()
		n.startPeer(tb, nd, all[i].tls, addr)
	}
	tb.Cleanup(func() {
		for _, nd := range n.Peers {
			nd.stop()
		}
	})
	return n
}

func (n *Net) startPeer(tb testing.TB, nd *Node, tlsCert tls.Certificate, p2pAddr string) {
	tb.Helper()
	log := n.o.Logger.With("node", nd.Name)
	host, err := p2p.New(p2p.Options{Self: nd.Self, TLS: tlsCert, Verifier: n.C.MSP, ListenAddr: p2pAddr, Logger: log.With("component", "p2p"),
		BackoffMin: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range n.Channel.Peers {
		if p.Name != nd.Name {
			if err := host.AddPeer(p2p.PeerSpec{NodeID: p.NodeId, Name: p.Name, Addr: p.P2PAddress}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if imp := n.o.Impostors[nd.Name]; imp != nil {
		for proto, h := range imp(n, nd) {
			if err := host.Handle(proto, func(ctx context.Context, s *p2p.Stream) {
				defer s.Close()
				req, err := s.ReadMsg()
				if err != nil {
					return
				}
				_ = s.WriteMsg(h(ctx, s.Peer(), req))
			}); err != nil {
				tb.Fatal(err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = host.Run(ctx)
		}()
		<-host.Ready()
		nd.Host = host
		var once sync.Once
		nd.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
		return
	}
	po := release.PeerOptions{Self: nd.Self, MSP: n.C.MSP, Host: host, Channel: n.Channel,
		Chain: PeerChain{n.Chain.As(nd.Self)},
		Caller: func(ctx context.Context) (*identity.Identity, bool) {
			id, ok := ctx.Value(callerKey{}).(*identity.Identity)
			return id, ok
		},
		DataDir: filepath.Join(n.o.DataDir, nd.Name), Logger: log.With("component", "release"),
		PollInterval: 200 * time.Millisecond, CoordLead: 3 * time.Second, CoordInterval: 200 * time.Millisecond, Freeze: 150 * time.Millisecond,
		ClockInterval: 500 * time.Millisecond, PingInterval: 300 * time.Millisecond, CallTimeout: 3 * time.Second}
	if n.o.Tune != nil {
		n.o.Tune(nd.Name, &po)
	}
	svc, err := release.StartPeer(ctx, &wg, po)
	if err != nil {
		tb.Fatal(err)
	}
	// The client API as a node mounts it, with the node's default bound
	// on a request message.
	mux := http.NewServeMux()
	path, h := foliov1connect.NewReleaseServiceHandler(svc.API(), connect.WithReadMaxBytes(MaxMessageBytes))
	mux.Handle(path, h)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := host.Run(ctx); err != nil {
			log.Error("p2p host", "err", err)
		}
	}()
	msp := n.C.MSP
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		id, err := msp.Identify(r.TLS.PeerCertificates[0])
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, id)))
	}))
	ln, err := net.Listen("tcp", net.JoinHostPort(n.o.ListenIP.String(), "0"))
	if err != nil {
		tb.Fatal(err)
	}
	srv.Listener = ln
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{tlsCert}, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	<-host.Ready()
	nd.Host, nd.API, nd.Service = host, ln.Addr().String(), svc
	var once sync.Once
	nd.stop = func() {
		once.Do(func() {
			cancel()
			srv.CloseClientConnections()
			srv.Close()
			wg.Wait()
		})
	}
}

// Stop stops one peer (a key server going offline).
func (n *Net) Stop(name string) {
	for _, nd := range n.Peers {
		if nd.Name == name {
			nd.stop()
		}
	}
}

// Peer returns a peer by name.
func (n *Net) Peer(name string) *Node {
	for _, nd := range n.Peers {
		if nd.Name == name {
			return nd
		}
	}
	return nil
}

// User issues a client identity in organisation org (0-based).
func (n *Net) User(tb testing.TB, org int, name string) *identity.SigningIdentity {
	return n.C.Identity(tb, org, name, identity.RoleClient)
}

// Client returns an SDK client for id whose home is the named peer; hc
// may be nil (a default mutual-TLS client).
func (n *Net) Client(tb testing.TB, id *identity.SigningIdentity, home string, hc *http.Client) *crelease.Client {
	tb.Helper()
	cid, err := client.NewIdentity(id.MSPID, id.Cert, id.Key())
	if err != nil {
		tb.Fatal(err)
	}
	if hc == nil {
		hc = client.HTTPClient(cid, n.C.Roots())
	}
	c := &crelease.Client{HTTP: hc, Gateway: n.Chain.As(id), ID: cid, Roots: n.C.RootCerts(), Home: home}
	for _, nd := range n.Peers {
		if nd.API != "" {
			c.Peers = append(c.Peers, crelease.Peer{Name: nd.Name, Org: n.C.Orgs[nd.Org].Name, NodeID: nd.Self.ID(), API: nd.API})
		}
	}
	return c
}

// DataDir is the release data directory of a peer.
func (n *Net) DataDir(name string) string { return filepath.Join(n.o.DataDir, name) }
