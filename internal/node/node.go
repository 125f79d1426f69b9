package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/gateway"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/order"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/release"
	"github.com/folio-ledger/folio/internal/version"
)

// Options builds a peer or orderer.
type Options struct {
	// Config is the parsed, validated node configuration.
	Config *config.Node
	// ConfigFile is the file Config came from, named in error messages.
	ConfigFile string
	// Logger receives the node's structured logs. Required.
	Logger *slog.Logger
	// Ready, if set, is called once the node is listening and ready.
	Ready func(addr string)
	// OperationsOpen, if set, is called with the operations listener's
	// address once it is open.
	OperationsOpen func(addr string)
}

// env is what the role-specific parts of a node share. Built by Run.
type env struct {
	cfg      *config.Node
	file     string
	log      *slog.Logger
	verifier *identity.Verifier
	self     *identity.SigningIdentity
	channel  *foliov1.ChannelConfig
	genesis  *foliov1.Block
	db       *pebblekv.Store
	blocks   *blocks.Store
	// ledger is the peer\'s ledger (nil on orderers).
	ledger    *ledger.Ledger
	host      *p2p.Host
	mux       *http.ServeMux
	ready     *readiness
	metrics   *metrics
	intercept connect.HandlerOption
	// fail stops the node with a fatal error from background work (a
	// ledger that cannot commit): Run returns it, so the process exits and
	// its supervisor sees why.
	fail func(error)
	// raft reports the orderer's Raft state for NodeInfo; nil on peers.
	raft       func() (role string, term uint64, leader string)
	raftStatus func() order.Status
	// membership applies the channel configuration in force to admission,
	// sessions and the role (membership.go).
	membership *membership
	// attestations reports the peer's latest checks of the other peers'
	// state-root attestations for NodeInfo; nil on orderers.
	attestations func() []*foliov1.AttestationCheck
	// chain serves ChainService; the peer adds its channel configuration.
	chain *deliver.ChainService
	// config is the peer's channel configuration in force, as the chain
	// defines it (nil on orderers).
	config *channel.Tracker
	// peerHealth is the peer's divergence and equivocation state (nil on
	// orderers; set before the node serves).
	peerHealth *peerHealth
	// background work the role starts; Run waits for it at shutdown.
	wg sync.WaitGroup
}

// Run starts a peer or orderer and blocks until ctx is done. Start-up
// problems (bad identity files, a port in use, a genesis block that does not
// match the configuration) are returned before anything is served.
func Run(ctx context.Context, opts Options) error {
	cfg, file, log := opts.Config, opts.ConfigFile, opts.Logger
	if cfg == nil || log == nil {
		return errors.New("node: Config and Logger are required")
	}
	started := time.Now()
	verifier, err := loadVerifier(file, cfg)
	if err != nil {
		return err
	}
	self, tlsCert, err := loadNodeIdentity(file, cfg, verifier)
	if err != nil {
		return err
	}
	genesis, chcfg, err := loadGenesis(file, cfg, verifier, self)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fieldErr(file, "data_dir", err, "make the directory writable by this user")
	}
	apiLn, err := listen("listen.api", cfg.Listen.API)
	if err != nil {
		return fieldErr(file, "listen.api", err, "")
	}
	defer apiLn.Close()
	log = log.With("node", cfg.Name)
	db, err := pebblekv.Open(filepath.Join(cfg.DataDir, "db"), pebblekv.Options{Logger: log})
	if err != nil {
		return fieldErr(file, "data_dir", err, "the node's database is damaged or in use by another process")
	}
	defer db.Close()
	var led *ledger.Ledger
	var bs *blocks.Store
	if cfg.Role == config.RolePeer {
		// A peer's ledger owns its block store: blocks commit with their
		// state changes.
		led, err = ledger.OpenStore(db, ledger.Options{Logger: log.With("component", "ledger")})
		if err != nil {
			return fmt.Errorf("%s: open ledger in %s: %w%s", cfg.Name, cfg.DataDir, err, corruptionHint(err, cfg.DataDir))
		}
		defer led.Close()
		bs = led.Blocks()
		if bs.Height() == 0 {
			if _, err := led.Commit(genesis, ledger.Updates{}); err != nil {
				return fmt.Errorf("%s: commit genesis block: %w", cfg.Name, err)
			}
		}
	} else {
		bs, err = blocks.Open(db)
		if err != nil {
			return fmt.Errorf("%s: open block store in %s: %w%s", cfg.Name, cfg.DataDir, err, corruptionHint(err, cfg.DataDir))
		}
		if bs.Height() == 0 {
			if err := bs.Append(genesis, true); err != nil {
				return fmt.Errorf("%s: write genesis block: %w", cfg.Name, err)
			}
		}
	}
	if g, err := bs.Block(0); err != nil || !proto.Equal(g.Header, genesis.Header) {
		return fieldErr(file, "genesis", fmt.Errorf("the node's chain starts with another genesis block"), "point genesis at this network's genesis.block, or use an empty data_dir")
	}

	m := newMetrics(cfg.Name, cfg.Role, cfg.Org)
	// A renewed certificate (same key) is taken without a restart
	// (certreload.go).
	certs, err := newCertReloader(cfg, verifier, self, tlsCert, m, log)
	if err != nil {
		return err
	}
	advertise := cfg.Listen.P2PAdvertise
	if advertise == "" {
		advertise = cfg.Listen.P2P
	}
	if err := checkP2PLimit(cfg, chcfg); err != nil {
		return fieldErr(file, "limits.p2p_max_message_bytes", err, "")
	}
	host, err := p2p.New(p2p.Options{Self: self, TLS: tlsCert, TLSSource: certs.TLS, Verifier: verifier, ListenAddr: cfg.Listen.P2P, AdvertiseAddr: advertise,
		MaxFrameBytes: cfg.Limits.P2PMaxMessageBytes, MaxStreamsPerSession: cfg.Limits.P2PMaxStreamsPerSession, SessionBufferBytes: cfg.Limits.P2PSessionBufferBytes,
		SessionMessageBytes: cfg.Limits.P2PSessionMessageBytes,
		Logger:              log.With("component", "p2p"), Registerer: m.registry})
	if err != nil {
		return fieldErr(file, "listen.p2p", err, "")
	}
	for _, e := range append(append([]config.Endpoint(nil), cfg.Orderers...), cfg.Peers...) {
		if err := host.AddPeer(p2p.PeerSpec{NodeID: e.NodeID, Name: e.Name, Addr: e.P2P}); err != nil {
			return fieldErr(file, "peers/orderers", fmt.Errorf("%s: %w", e.Name, err), "")
		}
	}
	g := newGuard(cfg.Limits, m, log, release.LargeBody, func(r *http.Request) string {
		if id, ok := Caller(r.Context()); ok {
			return id.Label()
		}
		return remoteIP(r) // not reached: authenticate runs first
	})
	e := &env{cfg: cfg, file: file, log: log, verifier: verifier, self: self, channel: chcfg, genesis: genesis, db: db, blocks: bs, ledger: led,
		host: host, mux: nil, ready: newReadiness(), metrics: m, intercept: handlerOptions(m, g)}
	e.ready.set("revocation lists", errors.New("first fetch from the CAs not finished"))

	v := version.Get()
	e.mux = apiMux(func() *foliov1.NodeInfo { return e.info(started, v) }, e.intercept)
	if e.membership, err = newMembership(e); err != nil {
		return err
	}
	ops, err := openOperations(file, cfg.Listen, certs.GetCertificate, adminOf(verifier), e.ready, m, log)
	if err != nil {
		return err
	}
	defer ops.ln.Close()
	if opts.OperationsOpen != nil {
		opts.OperationsOpen(ops.ln.Addr().String())
	}
	chain := &deliver.ChainService{Blocks: bs}
	e.chain = chain
	if led != nil {
		chain.StateRoot = func() []byte {
			root, _ := led.StateRoot(led.Height() - 1)
			return root
		}
	}
	path, h := foliov1connect.NewChainServiceHandler(chain, e.intercept)
	e.mux.Handle(path, h)
	if err := deliver.HandleSessions(host, bs, chcfg.ChannelId, log); err != nil {
		return err
	}
	// The height of the same blocks, for the gateways' current reads: a
	// peer asks the orderers before a linearizable read, and the other
	// peers of its organisation before it forwards a read that needs a
	// height (a peer's block store commits with its state).
	if err := host.HandleCall(gateway.HeightProtocol, gateway.ServeChainHeight(chcfg.ChannelId, bs.Height)); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer e.wg.Wait()
	fatal := make(chan error, 1)
	e.fail = func(err error) {
		select {
		case fatal <- err:
		default:
		}
		cancel()
	}
	startCertReload(ctx, e, certs)
	switch cfg.Role {
	case config.RoleOrderer:
		err = startOrderer(ctx, e)
	case config.RolePeer:
		err = startPeer(ctx, e)
	}
	if err != nil {
		return err
	}
	hostErr := make(chan error, 1)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		hostErr <- host.Run(ctx)
	}()
	select {
	case <-host.Ready():
	case err := <-hostErr:
		return fieldErr(file, "listen.p2p", err, "")
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		var once sync.Once
		pollCRLs(ctx, cfg, verifier, m, log, func() {
			once.Do(func() { e.ready.set("revocation lists", nil) })
		})
	}()
	if opts.Ready != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			select {
			case <-e.ready.first:
				opts.Ready(apiLn.Addr().String())
			case <-ctx.Done():
			}
		}()
	}
	tlsConf := &tls.Config{
		GetCertificate: certs.GetCertificate,
		// The MSP, not the TLS stack, judges the client certificate (see
		// authenticate); TLS still proves the client holds its key.
		ClientAuth: tls.RequireAnyClientCert,
		MinVersion: tls.VersionTLS13,
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := ops.serve(ctx, cfg.Limits, m, cfg.ShutdownGrace, log); err != nil {
			e.fail(fmt.Errorf("operations listener: %w", err))
		}
	}()
	log.Info("node started", "role", cfg.Role, "org", cfg.Org, "node_id", self.ID(), "api", apiLn.Addr().String(), "p2p", cfg.Listen.P2P,
		"operations", ops.ln.Addr().String(), "height", bs.Height(), "version", v.Version)
	err = serve(ctx, apiLn, authenticate(verifier, m, log, g.wrap(e.mux)), tlsConf, cfg.Limits, m, cfg.ShutdownGrace, log)
	cancel()
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Name, err)
	}
	select {
	case err := <-fatal:
		log.Error("node stopped on a fatal error", "err", err)
		return fmt.Errorf("%s: %w", cfg.Name, err)
	default:
	}
	log.Info("node stopped")
	return nil
}

// adminOf accepts the certificate of an admin of a consortium
// organisation (the operations listener off loopback).
func adminOf(v *identity.Verifier) func(*x509.Certificate) error {
	return func(c *x509.Certificate) error {
		if err := identity.CheckExtKeyUsage(c, x509.ExtKeyUsageClientAuth); err != nil {
			return err
		}
		id, err := v.Identify(c)
		if err != nil {
			return err
		}
		if id.Role != identity.RoleAdmin {
			return fmt.Errorf("%s is a %s; the operations listener serves admins only", id.Label(), id.Role)
		}
		return nil
	}
}

// checkP2PLimit refuses a session message limit that a block of this
// channel could exceed: a block holds up to the batch's max bytes plus one
// envelope that did not fit, and some framing.
func checkP2PLimit(cfg *config.Node, ch *foliov1.ChannelConfig) error {
	if ch.Batch == nil {
		return nil
	}
	need := order.MaxBlockMessageBytes(int(ch.Batch.MaxBytes))
	if cfg.Limits.P2PMaxMessageBytes < need {
		return fmt.Errorf("%d bytes cannot carry this channel's largest block (block max bytes %d + one envelope of up to %d): use at least %d",
			cfg.Limits.P2PMaxMessageBytes, ch.Batch.MaxBytes, order.DefaultMaxEnvelopeBytes, need)
	}
	return nil
}

// refused counts a refusal by one of the node's limits, by setting.
func (e *env) refused(setting string) { e.metrics.limitRefusals.WithLabelValues(setting).Inc() }

func (e *env) info(started time.Time, v version.Info) *foliov1.NodeInfo {
	ok, why := e.ready.status()
	info := &foliov1.NodeInfo{
		Name: e.cfg.Name, Role: e.cfg.Role, Org: e.cfg.Org, MspId: e.cfg.MSPID, NodeId: e.self.ID(),
		Version: v.Version, Commit: v.Commit, StartedAtUnixNano: started.UnixNano(), Pid: pid(),
		Ready: ok, NotReadyReason: why, Height: e.blocks.Height(), LastBlockHash: e.blocks.LastHash(),
	}
	if e.raft != nil {
		info.RaftRole, info.RaftTerm, info.RaftLeader = e.raft()
	}
	if e.raftStatus != nil {
		st := e.raftStatus()
		info.RaftId, info.RaftVoters, info.RaftLearners, info.RaftApplied, info.RaftMatch = st.ID, st.Voters, st.Learners, st.Applied, st.Match
	}
	if e.attestations != nil {
		info.AttestationChecks = e.attestations()
	}
	info.Health, info.HealthDetail = e.health() // peers: health.go
	if e.config != nil {
		c := e.config.Current()
		info.Capability, info.ConfigSequence = c.Level(), c.Sequence()
	}
	for _, s := range e.host.Sessions() {
		info.Sessions = append(info.Sessions, &foliov1.Session{Peer: s.PeerID, Name: s.Name, Org: s.Org, DialedBy: s.DialedBy,
			SinceUnixNano: s.Since.UnixNano(), State: s.State})
	}
	return info
}

// loadGenesis reads the genesis block and checks it describes this node's
// network: the node is in it under its node ID, and every organisation of
// the configuration has the same root certificate there.
func loadGenesis(file string, cfg *config.Node, v *identity.Verifier, self *identity.SigningIdentity) (*foliov1.Block, *foliov1.ChannelConfig, error) {
	data, err := os.ReadFile(cfg.Genesis)
	if err != nil {
		return nil, nil, fieldErr(file, "genesis", err, "")
	}
	var b foliov1.Block
	if err := proto.Unmarshal(data, &b); err != nil {
		return nil, nil, fieldErr(file, "genesis", fmt.Errorf("%s is not a block: %v", cfg.Genesis, err), "")
	}
	ch, err := channel.FromGenesis(&b)
	if err != nil {
		return nil, nil, fieldErr(file, "genesis", err, "")
	}
	orgs, err := channel.MSPOrgs(ch)
	if err != nil {
		return nil, nil, fieldErr(file, "genesis", err, "")
	}
	roots := map[string][]byte{}
	for _, o := range orgs {
		roots[o.MSPID] = o.Root.Raw
	}
	for _, o := range v.Orgs() {
		// The node's own organisation, if the genesis block has it, must
		// have the same root there: else this is another network's block.
		// Other organisations' roots in the config file come from the
		// configuration in force when the node joined (`folio org join`),
		// which config updates may have moved on since genesis; one the
		// genesis block lacks may have joined later.
		if r, ok := roots[o.MSPID]; ok && o.MSPID == cfg.MSPID && !bytes.Equal(r, o.Root.Raw) {
			return nil, nil, fieldErr(file, "genesis", fmt.Errorf("organisation %s has another root certificate in the genesis block", o.MSPID), "the genesis block belongs to another network")
		}
	}
	for _, n := range append(append([]*foliov1.NodeEndpoint(nil), ch.Orderers...), ch.Peers...) {
		if n.Name == cfg.Name && n.NodeId != self.ID() {
			return nil, nil, fieldErr(file, "genesis", fmt.Errorf("the channel knows %s with node ID %s, but this node's key has ID %s", cfg.Name, n.NodeId, self.ID()), "use the node's own identity")
		}
	}
	// A node the genesis block does not list may still be a member: one
	// that a config update added later (a joining organisation's peer, a
	// new orderer). It starts, catches up the chain, and takes part once
	// the configuration in force lists it (membership.go).
	// The verifier admits the genesis organisations too, so a node whose
	// config file lists only its own organisation can talk to the
	// channel's nodes before the chain tells it more.
	known := map[string]bool{}
	for _, o := range v.Orgs() {
		known[o.MSPID] = true
	}
	all := v.Orgs()
	for _, o := range orgs {
		if !known[o.MSPID] {
			all = append(all, o)
		}
	}
	if err := v.SetOrgs(all); err != nil {
		return nil, nil, fieldErr(file, "genesis", err, "")
	}
	return &b, ch, nil
}

// corruptionHint tells an operator how to recover from damaged local data:
// a node rebuilds its chain from the other nodes when started empty.
func corruptionHint(err error, dataDir string) string {
	if !errors.Is(err, kv.ErrCorruption) {
		return ""
	}
	return fmt.Sprintf(" (this node's data is damaged: restore %s from a backup, or move it aside and start the node empty to rebuild from the other nodes)", dataDir)
}
