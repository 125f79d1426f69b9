package localnet

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
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
}

// Limits on generated networks; a local network beyond them would not fit
// one machine usefully.
const (
	maxOrgs     = 16
	maxPeers    = 16
	maxOrderers = 9
)

// OrdererOrg is the name of the ordering organisation.
const OrdererOrg = "OrdererOrg"

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
}

// Validate reports a size out of range, naming the flag.
func (s *Spec) Validate() error {
	var errs []error
	if s.Orgs < 1 || s.Orgs > maxOrgs {
		errs = append(errs, fmt.Errorf("--orgs %d: must be 1 to %d", s.Orgs, maxOrgs))
	}
	if s.PeersPerOrg < 1 || s.PeersPerOrg > maxPeers {
		errs = append(errs, fmt.Errorf("--peers-per-org %d: must be 1 to %d", s.PeersPerOrg, maxPeers))
	}
	if s.Orderers < 1 || s.Orderers > maxOrderers {
		errs = append(errs, fmt.Errorf("--orderers %d: must be 1 to %d", s.Orderers, maxOrderers))
	}
	return errors.Join(errs...)
}

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

func build(dir string, spec Spec) (*Network, error) {
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
	plans = append(plans, op)

	nodeCount := 0
	for _, p := range plans {
		nodeCount += 1 + len(p.nodes)
	}
	ports, err := freePorts(nodeCount)
	if err != nil {
		return nil, err
	}
	nextAddr := func() string {
		a := fmt.Sprintf("127.0.0.1:%d", ports[0])
		ports = ports[1:]
		return a
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

	// Organisations and their identities, enrolled through each CA's own
	// service in-process: the same register/enroll path `folio ca` uses.
	for i := range plans {
		p := &plans[i]
		caName := "ca." + strings.ToLower(p.Name)
		caHome := filepath.Join(dir, "orgs", p.Name, "ca")
		auth, adminSecret, err := ca.Init(caHome, ca.InitOptions{Org: p.Name, MSPID: p.MSPID, CAName: caName})
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
		if p.Kind == "peer" {
			secret, err := cli.Register(ctx, admin, "user1", identity.RoleClient)
			if err != nil {
				return nil, fmt.Errorf("register user1@%s: %w", p.Name, err)
			}
			if _, err := enrollToWallet(ctx, cli, w, p.Org, "user1", secret); err != nil {
				return nil, err
			}
		}
		for _, nodeName := range p.nodes {
			secret, err := cli.Register(ctx, admin, nodeName, p.role)
			if err != nil {
				return nil, fmt.Errorf("register %s: %w", nodeName, err)
			}
			e, err := cli.Enroll(ctx, nodeName, secret, client.EnrollOptions{TLSHosts: []string{"127.0.0.1", "localhost", nodeName}})
			if err != nil {
				return nil, fmt.Errorf("enroll %s: %w", nodeName, err)
			}
			nd := filepath.Join(dir, "nodes", nodeName)
			if err := writeKeyPair(filepath.Join(nd, "msp"), e.Cert, e.Key); err != nil {
				return nil, err
			}
			if err := writeKeyPair(filepath.Join(nd, "tls"), e.TLSCert, e.TLSKey); err != nil {
				return nil, err
			}
		}
		n.Orgs = append(n.Orgs, p.Org)
		n.Nodes = append(n.Nodes, Node{Name: caName, Role: config.RoleCA, Org: p.Name, API: nextAddr()})
	}
	for _, p := range plans {
		role := string(p.role)
		for _, nodeName := range p.nodes {
			n.Nodes = append(n.Nodes, Node{Name: nodeName, Role: role, Org: p.Name, API: nextAddr()})
		}
	}
	for i := range n.Nodes {
		nd := &n.Nodes[i]
		nd.Config = filepath.Join("nodes", nd.Name, "config.yaml")
		nd.Log = filepath.Join("logs", nd.Name+".log")
		if err := writeNodeConfig(dir, n, nd); err != nil {
			return nil, err
		}
	}
	if err := n.Save(dir); err != nil {
		return nil, err
	}
	return n, nil
}

func enrollToWallet(ctx context.Context, cli *client.CA, w *wallet.Wallet, org Org, name, secret string) (*identity.SigningIdentity, error) {
	e, err := cli.Enroll(ctx, name, secret, client.EnrollOptions{})
	if err != nil {
		return nil, fmt.Errorf("enroll %s@%s: %w", name, org.Name, err)
	}
	entry := wallet.Entry{Name: name, Org: org.Name, MSPID: org.MSPID, Role: string(e.Role)}
	if err := w.Put(entry, e.Cert, e.Key); err != nil {
		return nil, err
	}
	return identity.NewSigningIdentity(identity.Identity{MSPID: org.MSPID, Org: org.Name, Name: name, Role: e.Role, Cert: e.Cert}, e.Key)
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

func writeNodeConfig(dir string, n *Network, nd *Node) error {
	org, err := n.Org(nd.Org)
	if err != nil {
		return err
	}
	var v any
	if nd.Role == config.RoleCA {
		v = &config.CA{
			Format: config.Format, Name: nd.Name, Org: nd.Org, MSPID: org.MSPID,
			Home:   filepath.Join("..", "..", "orgs", nd.Org, "ca"),
			Listen: config.Listen{API: nd.API},
			Log:    config.Log{Level: "info", Format: "json"},
		}
	} else {
		c := &config.Node{
			Format: config.Format, Name: nd.Name, Role: nd.Role, Org: nd.Org, MSPID: org.MSPID,
			Identity: config.KeyPair{Cert: "msp/cert.pem", Key: "msp/key.pem"},
			TLS:      config.KeyPair{Cert: "tls/cert.pem", Key: "tls/key.pem"},
			Listen:   config.Listen{API: nd.API},
			DataDir:  "data",
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
			e := config.Endpoint{Name: other.Name, Org: other.Org, API: other.API}
			switch other.Role {
			case config.RoleOrderer:
				c.Orderers = append(c.Orderers, e)
			case config.RolePeer:
				c.Peers = append(c.Peers, e)
			}
		}
		if nd.Role == config.RoleOrderer {
			c.BlockCutting = config.BatchConfig{MaxTxCount: 500, MaxBytes: 4 << 20, Timeout: 250 * time.Millisecond}
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
// listeners open until all are chosen.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("choose ports: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
