package consortium

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
	"github.com/folio-ledger/folio/internal/localnet"
)

// InitOptions describe one organisation created by Init.
type InitOptions struct {
	// Name is the organisation's name ("Org3"); MSPID defaults to Name+"MSP".
	Name, MSPID string
	// Peers and Orderers are how many nodes of each role it runs (peers
	// 0 to 16, orderers 0 to 9, not both 0).
	Peers, Orderers int
	// Host is the address the nodes listen on and advertise (an IP
	// address or DNS name of this host, reachable by the other
	// organisations). Default 127.0.0.1.
	Host string
	// Netns, when set, is the Linux network namespace the organisation's
	// CA and nodes run in (`ip netns exec NETNS folio ...`, recorded per
	// node in network.json): a host simulated by a namespace, whose
	// address Host is, for multi-host tests on one machine. Real hosts
	// leave it empty.
	Netns string
	// Channel is the channel's name recorded in network.json until the
	// genesis block says otherwise. Default "folio".
	Channel string
	// CopyrightWasm and ReleaseWasm are installed on every peer (as
	// version 1 of the copyright and release contracts).
	CopyrightWasm, ReleaseWasm []byte
}

// Ports of an organisation's nodes on its host: the CA on
// localnet.HostCAPort (operations one above localnet.HostOperationsPort);
// the i-th peer or orderer (peers first, from 0) on localnet's host ports
// plus PortStride*i, so several nodes share one address.
const PortStride = 100

var orgName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,31}$`)

// Init creates the organisation in dir, which must not exist or be empty:
// its CA home (root key included), a wallet with admin (and user1 when it
// runs peers), each node's identity and TLS key pairs and config.yaml, the
// genesis contracts installed in each peer's data dir, an enclave state
// key, and network.json listing only this organisation, so that
// `--network dir --as user1@Name` and `folio network start NODE` work.
// Node configs name dir/genesis.block (written later by `folio channel
// genesis` or `folio org join`), only this organisation in consortium:,
// and no other node: a node learns the others from the channel's
// configuration, and join adds bootstrap endpoints. Nothing is left
// behind when it fails.
func Init(dir string, o InitOptions) (*localnet.Network, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(dir); err == nil {
		if len(entries) > 0 {
			return nil, fmt.Errorf("%w: %s: org init writes a new organisation directory; choose another --dir", ErrDirNotEmpty, dir)
		}
		if err := os.Remove(dir); err != nil {
			return nil, fmt.Errorf("replace empty %s: %w", dir, err)
		}
	}
	var n *localnet.Network
	err := atomicfile.Tree(dir, func(tmp string) error {
		var err error
		n, err = build(tmp, o)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("org init in %s: %w", dir, err)
	}
	return n, nil
}

// ErrDirNotEmpty means Init was given a directory that holds files.
var ErrDirNotEmpty = errors.New("directory is not empty")

// Check fills defaults and reports every option out of range, naming the
// flag of `folio org init`.
func (o *InitOptions) Check() error {
	if o.MSPID == "" {
		o.MSPID = o.Name + "MSP"
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Channel == "" {
		o.Channel = "folio"
	}
	var errs []error
	if !orgName.MatchString(o.Name) {
		errs = append(errs, fmt.Errorf("--name %q: use 1-32 letters, digits or '-', starting with a letter, e.g. Org3", o.Name))
	}
	if !orgName.MatchString(o.MSPID) {
		errs = append(errs, fmt.Errorf("--msp-id %q: use 1-32 letters, digits or '-', starting with a letter, e.g. Org3MSP", o.MSPID))
	}
	if o.Peers < 0 || o.Peers > localnet.MaxPeersPerOrg {
		errs = append(errs, fmt.Errorf("--peers %d: must be 0 to %d", o.Peers, localnet.MaxPeersPerOrg))
	}
	if o.Orderers < 0 || o.Orderers > localnet.MaxOrderers {
		errs = append(errs, fmt.Errorf("--orderers %d: must be 0 to %d", o.Orderers, localnet.MaxOrderers))
	}
	if o.Peers == 0 && o.Orderers == 0 {
		errs = append(errs, errors.New("--peers 0 --orderers 0: an organisation needs at least one node"))
	}
	if o.Peers > 0 && o.Orderers > 0 {
		// The channel records an organisation's kind (peer or orderer),
		// which decides whose admins approve changes and who endorses.
		errs = append(errs, errors.New("--peers and --orderers both given: an organisation runs peers or orderers, not both (create two organisations)"))
	}
	if ip := net.ParseIP(o.Host); ip != nil && ip.IsUnspecified() {
		errs = append(errs, fmt.Errorf("--host %s: give the address the other organisations reach this host at, not a wildcard", o.Host))
	} else if ip == nil && !hostName.MatchString(o.Host) {
		errs = append(errs, fmt.Errorf("--host %q is neither an IP address nor a host name", o.Host))
	}
	if o.Netns != "" && !netnsName.MatchString(o.Netns) {
		errs = append(errs, fmt.Errorf("--netns %q: want a network namespace name (letters, digits, '.', '_', '-'), as 'ip netns list' shows it", o.Netns))
	}
	if o.Netns != "" && localnet.IsLoopbackAddr(net.JoinHostPort(o.Host, "1")) {
		// A namespace has its own loopback: nodes listening there are
		// reachable from nowhere else.
		errs = append(errs, fmt.Errorf("--netns %s with --host %s: give the namespace's own address as --host", o.Netns, o.Host))
	}
	return errors.Join(errs...)
}

var netnsName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

// nodeNames are the organisation's peers then orderers: "peer0.org3",
// "orderer0.org3" (names are unique across the consortium, since each
// carries its organisation's name).
func (o *InitOptions) nodeNames() (peers, orderers []string) {
	low := strings.ToLower(o.Name)
	for i := 0; i < o.Peers; i++ {
		peers = append(peers, fmt.Sprintf("peer%d.%s", i, low))
	}
	for i := 0; i < o.Orderers; i++ {
		orderers = append(orderers, fmt.Sprintf("orderer%d.%s", i, low))
	}
	return peers, orderers
}

func build(dir string, o InitOptions) (*localnet.Network, error) {
	kind, role := "peer", identity.RolePeer
	if o.Peers == 0 {
		kind, role = "orderer", identity.RoleOrderer
	}
	org := localnet.Org{Name: o.Name, MSPID: o.MSPID, Kind: kind}
	n := &localnet.Network{Format: localnet.Format, Channel: o.Channel, CreatedAt: time.Now().UTC()}
	for _, d := range []string{"logs", "nodes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	addr := func(port int) string { return net.JoinHostPort(o.Host, strconv.Itoa(port)) }
	tlsHosts := func(names ...string) []string {
		return append([]string{o.Host, "127.0.0.1", "localhost"}, names...)
	}
	caName := localnet.CANodeName(o.Name)
	auth, adminSecret, err := ca.Init(filepath.Join(dir, "orgs", o.Name, "ca"), ca.InitOptions{Org: o.Name, MSPID: o.MSPID, CAName: caName, Hosts: tlsHosts(caName)})
	if err != nil {
		return nil, err
	}
	org.RootCert = filepath.Join("orgs", o.Name, "ca-cert.pem")
	org.CA = caName
	if err := fcrypto.WriteCertificate(filepath.Join(dir, org.RootCert), auth.Certificate().Raw); err != nil {
		return nil, err
	}
	// Identities are enrolled through the CA's own service in-process:
	// the register/enroll path `folio ca` uses.
	svc, err := ca.NewService(auth, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	cli := client.NewCAWith(svc)
	w := wallet.Open(filepath.Join(dir, "wallet"))
	admin, err := localnet.EnrollToWallet(ctx, cli, w, org, "admin", adminSecret)
	if err != nil {
		return nil, err
	}
	if kind == "peer" {
		secret, err := cli.Register(ctx, admin, "user1", string(identity.RoleClient))
		if err != nil {
			return nil, fmt.Errorf("register user1@%s: %w", o.Name, err)
		}
		if _, err := localnet.EnrollToWallet(ctx, cli, w, org, "user1", secret); err != nil {
			return nil, err
		}
	}
	n.Orgs = []localnet.Org{org}
	n.Nodes = append(n.Nodes, localnet.Node{Name: caName, Role: config.RoleCA, Org: o.Name,
		API: addr(localnet.HostCAPort), Operations: addr(localnet.HostOperationsPort + 1)})
	peers, orderers := o.nodeNames()
	for i, name := range append(peers, orderers...) {
		id, err := localnet.EnrollNode(ctx, cli, admin, dir, name, role, tlsHosts(name))
		if err != nil {
			return nil, err
		}
		off := PortStride * i
		n.Nodes = append(n.Nodes, localnet.Node{Name: name, Role: string(role), Org: o.Name, NodeID: id,
			API: addr(localnet.HostAPIPort + off), P2P: addr(localnet.HostP2PPort + off), Operations: addr(localnet.HostOperationsPort + off)})
	}
	for _, name := range peers {
		for _, c := range []struct {
			name string
			wasm []byte
		}{{localnet.CopyrightContract, o.CopyrightWasm}, {localnet.ReleaseContract, o.ReleaseWasm}} {
			if len(c.wasm) == 0 {
				continue
			}
			if err := localnet.InstallContract(dir, name, c.name, c.wasm); err != nil {
				return nil, err
			}
		}
	}
	if kind == "peer" {
		// Confidential contracts need the same state key in every peer's
		// enclave; a consortium provisions it out of band (docs/deploy.md).
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, localnet.StateKeyFile), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	for i := range n.Nodes {
		nd := &n.Nodes[i]
		nd.Config = filepath.Join("nodes", nd.Name, "config.yaml")
		nd.Log = filepath.Join("logs", nd.Name+".log")
		nd.Netns = o.Netns
		if err := writeConfig(dir, n, nd); err != nil {
			return nil, err
		}
	}
	return n, n.Save(dir)
}

// writeConfig writes a node's config.yaml: this organisation only, no
// other node (Bootstrap adds them).
func writeConfig(dir string, n *localnet.Network, nd *localnet.Node) error {
	org := n.Orgs[0]
	var v any
	if nd.Role == config.RoleCA {
		v = &config.CA{Format: config.Format, Name: nd.Name, Org: nd.Org, MSPID: org.MSPID,
			Home:   filepath.Join("..", "..", "orgs", nd.Org, "ca"),
			Listen: config.Listen{API: nd.API, Operations: nd.Operations},
			Log:    config.Log{Level: "info", Format: "json"}}
	} else {
		c := &config.Node{Format: config.Format, Name: nd.Name, Role: nd.Role, Org: nd.Org, MSPID: org.MSPID,
			Identity: config.KeyPair{Cert: "msp/cert.pem", Key: "msp/key.pem"},
			TLS:      config.KeyPair{Cert: "tls/cert.pem", Key: "tls/key.pem"},
			Listen:   config.Listen{API: nd.API, P2P: nd.P2P, Operations: nd.Operations},
			DataDir:  "data",
			Genesis:  filepath.Join("..", "..", localnet.GenesisFile),
			Log:      config.Log{Level: "info", Format: "json"},
			Consortium: []config.OrgRef{{Name: org.Name, MSPID: org.MSPID,
				RootCert: filepath.Join("..", "..", org.RootCert), CAAddress: n.Nodes[0].API}},
		}
		if nd.Role == config.RolePeer {
			c.Enclave.StateKey = filepath.Join("..", "..", localnet.StateKeyFile)
			c.Enclave.CompileCache = filepath.Join("..", "..", localnet.CompileCacheDir)
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
	header := "# Folio " + nd.Role + " configuration of organisation " + nd.Org + ", generated by `folio org init`.\n" +
		"# Fields and defaults: docs/configuration.md; running it on its own host: docs/deploy.md.\n"
	return atomicfile.WriteFile(p, append([]byte(header), data...), 0o644)
}
