package localnet

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
	"github.com/folio-ledger/folio/internal/order"
)

// Spec is the shape of a generated network.
type Spec struct {
	// Orgs is the number of peer organisations (Org1, Org2, ...). Default 2.
	Orgs int
	// PeersPerOrg is the number of peers of each organisation. Default 2.
	PeersPerOrg int
	// Orderers is the number of orderers of the ordering organisation. Default 3.
	Orderers int
	// Channel is the channel's name. Default "folio".
	Channel string
	// Block cutting, recorded in the genesis block so every orderer cuts
	// identically: at BlockMaxTx envelopes (default 500), BlockMaxBytes
	// (default 4 MiB), or BlockTimeout after the first pending one (default 250ms).
	BlockMaxTx    int
	BlockMaxBytes int
	BlockTimeout  time.Duration
	// ContractWasm is the copyright contract's wasm module. When set, the
	// contract is defined in the genesis block (version 1, every peer
	// organisation endorses) and installed on every peer.
	ContractWasm []byte
	// ReleaseWasm is the timed-release contract's wasm module
	// (docs/release.md). When set, contract "release" is defined in the
	// genesis block (version 1, a majority of the peer organisations
	// endorses) and installed on every peer.
	ReleaseWasm []byte

	// Hosts, Netns and Env place nodes for a chaos lab
	// (internal/chaos/lab), each keyed by node name as NodeNames returns
	// them; nil keeps every node on 127.0.0.1 with free ports.
	//
	// Hosts gives a node its own IP address: its API, P2P and operations
	// listeners bind that address on fixed ports (HostAPIPort,
	// HostP2PPort, HostOperationsPort; a CA's API HostCAPort), and its TLS
	// certificate names it. Hosts must be distinct. Off loopback the
	// operations listener serves only admins over mutual TLS; Operations
	// reaches it so.
	Hosts map[string]string
	// Netns runs a node in a network namespace (`ip netns exec NS folio
	// ...`), which must exist whenever the node starts. A node in a
	// namespace needs a Host there; when any node has a namespace, every
	// node must (a namespace cannot reach the root namespace's loopback).
	Netns map[string]string
	// Env is extra environment (KEY=VALUE) of a node's process, e.g. a
	// test hook such as FOLIO_TEST_CLOCK_FILE.
	Env map[string][]string
}

// Fixed ports of a node with its own address (Spec.Hosts).
const (
	HostAPIPort        = 7051
	HostP2PPort        = 7052
	HostCAPort         = 7054
	HostOperationsPort = 9443
)

// Limits on generated networks; a local network beyond them would not fit
// one machine usefully.
const (
	// MaxOrgs bounds Spec.Orgs (from 1).
	MaxOrgs = 16
	// MaxPeersPerOrg bounds Spec.PeersPerOrg (from 1).
	MaxPeersPerOrg = 16
	// MaxOrderers bounds Spec.Orderers (from 1).
	MaxOrderers = 9
)

// OrdererOrg is the name of the ordering organisation.
const OrdererOrg = "OrdererOrg"

// CopyrightContract is the name of the copyright contract.
const CopyrightContract = "copyright"

// ReleaseContract is the name of the timed-release contract.
const ReleaseContract = "release"

// EnsureDefaults fills unset sizes with the defaults.
func (s *Spec) EnsureDefaults() {
	if s.Orgs == 0 {
		s.Orgs = 2
	}
	if s.PeersPerOrg == 0 {
		s.PeersPerOrg = 2
	}
	if s.Orderers == 0 {
		s.Orderers = 3
	}
	if s.Channel == "" {
		s.Channel = "folio"
	}
	if s.BlockMaxTx == 0 {
		s.BlockMaxTx = 500
	}
	if s.BlockMaxBytes == 0 {
		s.BlockMaxBytes = 4 << 20
	}
	if s.BlockTimeout == 0 {
		s.BlockTimeout = 250 * time.Millisecond
	}
}

// Validate reports a size out of range, naming the flag.
func (s *Spec) Validate() error {
	var errs []error
	if s.Orgs < 1 || s.Orgs > MaxOrgs {
		errs = append(errs, fmt.Errorf("--orgs %d: must be 1 to %d", s.Orgs, MaxOrgs))
	}
	if s.PeersPerOrg < 1 || s.PeersPerOrg > MaxPeersPerOrg {
		errs = append(errs, fmt.Errorf("--peers-per-org %d: must be 1 to %d", s.PeersPerOrg, MaxPeersPerOrg))
	}
	if s.Orderers < 1 || s.Orderers > MaxOrderers {
		errs = append(errs, fmt.Errorf("--orderers %d: must be 1 to %d", s.Orderers, MaxOrderers))
	}
	if s.BlockMaxTx < 1 || s.BlockMaxTx > 100_000 {
		errs = append(errs, fmt.Errorf("--block-max-tx %d: must be 1 to 100000", s.BlockMaxTx))
	}
	if s.BlockMaxBytes < 64<<10 || s.BlockMaxBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("--block-max-bytes %d: must be 64 KiB to 64 MiB", s.BlockMaxBytes))
	}
	if s.BlockTimeout < time.Millisecond || s.BlockTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("--block-timeout %s: must be 1ms to 1m", s.BlockTimeout))
	}
	if len(errs) == 0 {
		errs = append(errs, s.validatePlacement())
	}
	return errors.Join(errs...)
}

// validatePlacement checks Hosts, Netns and Env against the node names.
func (s *Spec) validatePlacement() error {
	if s.Hosts == nil && s.Netns == nil && s.Env == nil {
		return nil
	}
	names := NodeNames(*s)
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	var errs []error
	unknown := func(field string, m map[string]bool) {
		for name := range m {
			if !known[name] {
				errs = append(errs, fmt.Errorf("%s: no node %q in this network (its nodes: %s)", field, name, strings.Join(names, ", ")))
			}
		}
	}
	keys := func(m map[string]string) map[string]bool {
		out := map[string]bool{}
		for k := range m {
			out[k] = true
		}
		return out
	}
	unknown("hosts", keys(s.Hosts))
	unknown("netns", keys(s.Netns))
	envKeys := map[string]bool{}
	for k, env := range s.Env {
		envKeys[k] = true
		for _, kv := range env {
			if i := strings.IndexByte(kv, '='); i < 1 {
				errs = append(errs, fmt.Errorf("env of %s: %q is not KEY=VALUE", k, kv))
			}
		}
	}
	unknown("env", envKeys)
	owner := map[string]string{}
	for _, name := range names {
		h, ok := s.Hosts[name]
		if !ok {
			continue
		}
		ip := net.ParseIP(h)
		if ip == nil || ip.IsUnspecified() {
			errs = append(errs, fmt.Errorf("hosts: %s: %q is not an IP address a node can listen on", name, h))
			continue
		}
		if other, dup := owner[ip.String()]; dup {
			errs = append(errs, fmt.Errorf("hosts: %s and %s both have %s (each node needs its own: the ports are fixed)", other, name, h))
		}
		owner[ip.String()] = name
	}
	if len(s.Netns) > 0 {
		for _, name := range names {
			ns := s.Netns[name]
			switch {
			case ns == "":
				errs = append(errs, fmt.Errorf("netns: %s has no namespace; when any node runs in one, every node must (a namespace cannot reach the root namespace's loopback)", name))
			case s.Hosts[name] == "":
				errs = append(errs, fmt.Errorf("netns: %s runs in namespace %s but has no host address (Hosts) there", name, ns))
			case strings.ContainsAny(ns, "/\x00") || ns == "." || ns == "..":
				errs = append(errs, fmt.Errorf("netns: %s: %q is not a namespace name", name, ns))
			}
		}
	}
	return errors.Join(errs...)
}

// NodeNames returns the names of the nodes Generate creates for spec (zero
// sizes take the defaults), in network.json's order: each organisation's
// CA, then the peers, then the orderers. A lab plans namespaces and
// addresses with it before generating.
func NodeNames(spec Spec) []string {
	spec.EnsureDefaults()
	var names []string
	plans := planOrgs(spec)
	for _, p := range plans {
		names = append(names, caNodeName(p.Name))
	}
	for _, p := range plans {
		names = append(names, p.nodes...)
	}
	return names
}

func caNodeName(org string) string { return "ca." + strings.ToLower(org) }

// Generate creates a network directory at dir, which must not exist or be
// empty. Nothing is left behind if generation fails.
func Generate(dir string, spec Spec) (*Network, error) {
	spec.EnsureDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(dir); err == nil {
		if len(entries) > 0 {
			return nil, fmt.Errorf("%s exists and is not a Folio network directory (no %s): choose another --network or empty it", dir, FileName)
		}
		if err := os.Remove(dir); err != nil {
			return nil, fmt.Errorf("replace empty %s: %w", dir, err)
		}
	}
	var net *Network
	err := atomicfile.Tree(dir, func(tmp string) error {
		var err error
		net, err = build(tmp, spec)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("generate network in %s: %w", dir, err)
	}
	return net, nil
}

type orgPlan struct {
	Org
	nodes []string // peer or orderer names
	role  identity.Role
}

// planOrgs lays out the organisations and their node names.
func planOrgs(spec Spec) []orgPlan {
	var plans []orgPlan
	for i := 1; i <= spec.Orgs; i++ {
		name := fmt.Sprintf("Org%d", i)
		p := orgPlan{Org: Org{Name: name, MSPID: name + "MSP", Kind: "peer"}, role: identity.RolePeer}
		for j := 0; j < spec.PeersPerOrg; j++ {
			p.nodes = append(p.nodes, fmt.Sprintf("peer%d.org%d", j, i))
		}
		plans = append(plans, p)
	}
	op := orgPlan{Org: Org{Name: OrdererOrg, MSPID: "OrdererMSP", Kind: "orderer"}, role: identity.RoleOrderer}
	for j := 0; j < spec.Orderers; j++ {
		op.nodes = append(op.nodes, fmt.Sprintf("orderer%d", j))
	}
	return append(plans, op)
}

func build(dir string, spec Spec) (*Network, error) {
	plans := planOrgs(spec)
	portCount := 0
	for _, p := range plans {
		if spec.Hosts[caNodeName(p.Name)] == "" {
			portCount += 2 // a CA's API and operations
		}
		for _, name := range p.nodes {
			if spec.Hosts[name] == "" {
				portCount += 3 // a node's API, P2P and operations
			}
		}
	}
	ports, err := freePorts(portCount)
	if err != nil {
		return nil, err
	}
	// addr returns the next listen address of node name: its own host on
	// a fixed port, else a free loopback port.
	addr := func(name string, fixed int) string {
		if h := spec.Hosts[name]; h != "" {
			return net.JoinHostPort(h, fmt.Sprint(fixed))
		}
		a := fmt.Sprintf("127.0.0.1:%d", ports[0])
		ports = ports[1:]
		return a
	}
	// place fills a node's namespace and environment from the spec.
	place := func(nd Node) Node {
		nd.Netns = spec.Netns[nd.Name]
		if env := spec.Env[nd.Name]; len(env) > 0 {
			nd.Env = append([]string(nil), env...)
		}
		return nd
	}
	tlsHosts := func(name string, base ...string) []string {
		if h := spec.Hosts[name]; h != "" {
			return append(base, h)
		}
		return base
	}

	w := wallet.Open(filepath.Join(dir, "wallet"))
	n := &Network{Format: Format, Channel: spec.Channel, CreatedAt: time.Now().UTC()}
	for _, d := range []string{"logs", "nodes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	nodeIDs := map[string]string{}
	var genesisSigner *identity.SigningIdentity

	// Organisations and their identities, enrolled through each CA's own
	// service in-process: the same register/enroll path `folio ca` uses.
	for i := range plans {
		p := &plans[i]
		caName := caNodeName(p.Name)
		caHome := filepath.Join(dir, "orgs", p.Name, "ca")
		auth, adminSecret, err := ca.Init(caHome, ca.InitOptions{Org: p.Name, MSPID: p.MSPID, CAName: caName,
			Hosts: tlsHosts(caName, "127.0.0.1", "localhost")})
		if err != nil {
			return nil, err
		}
		p.RootCert = filepath.Join("orgs", p.Name, "ca-cert.pem")
		p.CA = caName
		if err := fcrypto.WriteCertificate(filepath.Join(dir, p.RootCert), auth.Certificate().Raw); err != nil {
			return nil, err
		}
		svc, err := ca.NewService(auth, quiet, nil)
		if err != nil {
			return nil, err
		}
		cli := client.NewCAWith(svc)
		admin, err := enrollToWallet(ctx, cli, w, p.Org, "admin", adminSecret)
		if err != nil {
			return nil, err
		}
		if p.Kind == "orderer" {
			// The genesis block is signed with the server-side identity
			// type; the SDK identity holds the same certificate and key.
			if genesisSigner, err = identity.FromCertificate(admin.MSPID(), admin.Certificate(), admin.Key()); err != nil {
				return nil, err
			}
		}
		if p.Kind == "peer" {
			secret, err := cli.Register(ctx, admin, "user1", string(identity.RoleClient))
			if err != nil {
				return nil, fmt.Errorf("register user1@%s: %w", p.Name, err)
			}
			if _, err := enrollToWallet(ctx, cli, w, p.Org, "user1", secret); err != nil {
				return nil, err
			}
		}
		for _, nodeName := range p.nodes {
			if nodeIDs[nodeName], err = EnrollNode(ctx, cli, admin, dir, nodeName, p.role, tlsHosts(nodeName, "127.0.0.1", "localhost", nodeName)); err != nil {
				return nil, err
			}
		}
		n.Orgs = append(n.Orgs, p.Org)
		n.Nodes = append(n.Nodes, place(Node{Name: caName, Role: config.RoleCA, Org: p.Name,
			API: addr(caName, HostCAPort), Operations: addr(caName, HostOperationsPort)}))
	}
	for _, p := range plans {
		role := string(p.role)
		for _, nodeName := range p.nodes {
			n.Nodes = append(n.Nodes, place(Node{Name: nodeName, Role: role, Org: p.Name, API: addr(nodeName, HostAPIPort),
				P2P: addr(nodeName, HostP2PPort), Operations: addr(nodeName, HostOperationsPort), NodeID: nodeIDs[nodeName]}))
		}
	}
	for _, nd := range n.Nodes {
		if nd.Role != config.RolePeer {
			continue
		}
		for contract, wasm := range map[string][]byte{CopyrightContract: spec.ContractWasm, ReleaseContract: spec.ReleaseWasm} {
			if len(wasm) == 0 {
				continue
			}
			if err := InstallContract(dir, nd.Name, contract, wasm); err != nil {
				return nil, err
			}
		}
	}
	genesis, err := genesisBlock(dir, n, spec, genesisSigner)
	if err != nil {
		return nil, err
	}
	data, err := proto.Marshal(genesis)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, GenesisFile), data, 0o644); err != nil {
		return nil, err
	}
	stateKey := make([]byte, 32)
	if _, err := rand.Read(stateKey); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, StateKeyFile), []byte(hex.EncodeToString(stateKey)+"\n"), 0o600); err != nil {
		return nil, err
	}
	for i := range n.Nodes {
		nd := &n.Nodes[i]
		nd.Config = filepath.Join("nodes", nd.Name, "config.yaml")
		nd.Log = filepath.Join("logs", nd.Name+".log")
		if err := writeNodeConfig(dir, n, nd, spec.BlockMaxBytes); err != nil {
			return nil, err
		}
	}
	if err := n.Save(dir); err != nil {
		return nil, err
	}
	return n, nil
}

// genesisBlock records the network as the channel's configuration: every
// organisation with its root certificate, every orderer and peer with its
// node ID and addresses, block cutting, and the default policies (every
// peer organisation endorses copyright transactions; a majority of their
// admins activates contract versions).
func genesisBlock(dir string, n *Network, spec Spec, signer *identity.SigningIdentity) (*foliov1.Block, error) {
	if signer == nil {
		return nil, fmt.Errorf("genesis: no ordering organisation admin")
	}
	cfg := &foliov1.ChannelConfig{Format: channel.Format, ChannelId: n.Channel, Capability: channel.MaxCapability,
		Batch:    &foliov1.BatchConfig{MaxTxCount: uint32(spec.BlockMaxTx), MaxBytes: uint32(spec.BlockMaxBytes), TimeoutMs: uint32(spec.BlockTimeout.Milliseconds())},
		Policies: map[string]string{}}
	var members, admins []string
	for _, o := range n.Orgs {
		root, err := os.ReadFile(filepath.Join(dir, o.RootCert))
		if err != nil {
			return nil, err
		}
		kind := foliov1.OrgKind_ORG_KIND_PEER
		if o.Kind == "orderer" {
			kind = foliov1.OrgKind_ORG_KIND_ORDERER
		} else {
			// Endorsements come from peers: a client's signature must
			// never stand for its organisation's endorsement.
			members = append(members, "'"+o.MSPID+".peer'")
			admins = append(admins, "'"+o.MSPID+".admin'")
		}
		cfg.Orgs = append(cfg.Orgs, &foliov1.OrgConfig{Name: o.Name, MspId: o.MSPID, Kind: kind, RootCerts: [][]byte{root}})
	}
	for _, nd := range n.Nodes {
		ep := &foliov1.NodeEndpoint{Name: nd.Name, Org: nd.Org, NodeId: nd.NodeID, ApiAddress: nd.API, P2PAddress: nd.P2P}
		switch nd.Role {
		case config.RoleOrderer:
			cfg.Orderers = append(cfg.Orderers, ep)
		case config.RolePeer:
			cfg.Peers = append(cfg.Peers, ep)
		}
	}
	cfg.Policies["lifecycle/activation"] = fmt.Sprintf("OutOf(%d, %s)", len(admins)/2+1, strings.Join(admins, ", "))
	cfg.Policies[channel.AdminsPolicy] = fmt.Sprintf("OutOf(%d, %s)", len(admins)/2+1, strings.Join(admins, ", "))
	if len(spec.ContractWasm) > 0 {
		sum := sha256.Sum256(spec.ContractWasm)
		cfg.Contracts = append(cfg.Contracts, &foliov1.ContractDefinition{Name: CopyrightContract, Version: "1",
			EndorsementPolicy: "AND(" + strings.Join(members, ", ") + ")", PackageHash: sum[:]})
	}
	if len(spec.ReleaseWasm) > 0 {
		sum := sha256.Sum256(spec.ReleaseWasm)
		cfg.Contracts = append(cfg.Contracts, &foliov1.ContractDefinition{Name: ReleaseContract, Version: "1",
			EndorsementPolicy: fmt.Sprintf("OutOf(%d, %s)", len(members)/2+1, strings.Join(members, ", ")), PackageHash: sum[:]})
	}
	return channel.NewGenesis(cfg, signer, time.Now())
}

func enrollToWallet(ctx context.Context, cli *client.CA, w *wallet.Wallet, org Org, name, secret string) (*client.Identity, error) {
	e, err := cli.Enroll(ctx, name, secret, client.EnrollOptions{})
	if err != nil {
		return nil, fmt.Errorf("enroll %s@%s: %w", name, org.Name, err)
	}
	entry := wallet.Entry{Name: name, Org: org.Name, MSPID: org.MSPID, Role: e.Role}
	if err := w.Put(entry, e.Cert, e.Key); err != nil {
		return nil, err
	}
	return client.NewIdentity(org.MSPID, e.Cert, e.Key)
}

func writeKeyPair(dir string, cert *x509.Certificate, key crypto.Signer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := fcrypto.WriteCertificate(filepath.Join(dir, "cert.pem"), cert.Raw); err != nil {
		return err
	}
	return fcrypto.WritePrivateKey(filepath.Join(dir, "key.pem"), key)
}

// writeNodeConfig writes a node's config.yaml. blockMaxBytes, when
// non-zero, is the channel's block size bound: a session message limit is
// set where the default would not carry the largest block.
func writeNodeConfig(dir string, n *Network, nd *Node, blockMaxBytes int) error {
	org, err := n.Org(nd.Org)
	if err != nil {
		return err
	}
	var v any
	if nd.Role == config.RoleCA {
		v = &config.CA{
			Format: config.Format, Name: nd.Name, Org: nd.Org, MSPID: org.MSPID,
			Home:   filepath.Join("..", "..", "orgs", nd.Org, "ca"),
			Listen: config.Listen{API: nd.API, Operations: nd.Operations},
			Log:    config.Log{Level: "info", Format: "json"},
		}
	} else {
		c := &config.Node{
			Format: config.Format, Name: nd.Name, Role: nd.Role, Org: nd.Org, MSPID: org.MSPID,
			Identity: config.KeyPair{Cert: "msp/cert.pem", Key: "msp/key.pem"},
			TLS:      config.KeyPair{Cert: "tls/cert.pem", Key: "tls/key.pem"},
			Listen:   config.Listen{API: nd.API, P2P: nd.P2P, Operations: nd.Operations},
			DataDir:  "data",
			Genesis:  filepath.Join("..", "..", GenesisFile),
			Log:      config.Log{Level: "info", Format: "json"},
		}
		for _, o := range n.Orgs {
			caNode, _ := n.Node(o.CA)
			c.Consortium = append(c.Consortium, config.OrgRef{Name: o.Name, MSPID: o.MSPID,
				RootCert: filepath.Join("..", "..", o.RootCert), CAAddress: caNode.API})
		}
		for _, other := range n.Nodes {
			if other.Name == nd.Name {
				continue
			}
			e := config.Endpoint{Name: other.Name, Org: other.Org, API: other.API, P2P: other.P2P, NodeID: other.NodeID}
			switch other.Role {
			case config.RoleOrderer:
				c.Orderers = append(c.Orderers, e)
			case config.RolePeer:
				c.Peers = append(c.Peers, e)
			}
		}
		var def config.Limits
		def.EnsureDefaults()
		if need := order.MaxBlockMessageBytes(blockMaxBytes); blockMaxBytes > 0 && need > def.P2PMaxMessageBytes {
			c.Limits.P2PMaxMessageBytes = need // the default would not carry the largest block
		}
		if nd.Role == config.RolePeer {
			c.Enclave.StateKey = filepath.Join("..", "..", StateKeyFile)
			c.Enclave.CompileCache = filepath.Join("..", "..", CompileCacheDir)
		}
		v = c
	}
	data, err := config.Marshal(v)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, nd.Config)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	header := "# Folio " + nd.Role + " configuration, generated by `folio network up`.\n# Fields and defaults: docs/configuration.md. Override any scalar with FOLIO_<FIELD> or --set field=value.\n"
	return atomicfile.WriteFile(p, append([]byte(header), data...), 0o644)
}

// freePorts reserves n distinct free ports on 127.0.0.1 by holding
// listeners open until all are chosen. It picks them below the kernel's
// ephemeral range: a port chosen there could be taken, between network
// creation and start, by any outbound connection of any process on the
// machine (which the kernel numbers from that range), while below it only
// another listener can take it.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	lo, hi := portRange()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0"
		if hi > lo && tries < 50*n {
			addr = fmt.Sprintf("127.0.0.1:%d", lo+mrand.IntN(hi-lo))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue // taken: try another
			}
			return nil, fmt.Errorf("choose ports: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// portRange is where freePorts looks: from 10000 up to the start of the
// kernel's ephemeral port range (an empty range when it cannot be read,
// so the kernel chooses).
func portRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err != nil || first <= 10000+1000 {
		return 0, 0
	}
	return 10000, first
}
