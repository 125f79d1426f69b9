package node

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testOrg is a throw-away organisation: a root CA that issues certificates
// into a temporary directory.
type testOrg struct {
	name string
	ca   *identity.SigningIdentity
	dir  string
}

func newTestOrg(t *testing.T, name string) *testOrg {
	t.Helper()
	key, _ := fcrypto.GenerateKey()
	root, err := identity.NewRootCA(name, "ca."+name, key, time.Now(), identity.DefaultRootValidity)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := identity.NewSigningIdentity(identity.Identity{MSPID: name + "MSP", Org: name, Name: "ca", Role: identity.RoleAdmin, Cert: root}, key)
	if err != nil {
		t.Fatal(err)
	}
	o := &testOrg{name: name, ca: ca, dir: t.TempDir()}
	if err := fcrypto.WriteCertificate(filepath.Join(o.dir, "root.pem"), root.Raw); err != nil {
		t.Fatal(err)
	}
	return o
}

// issue writes a certificate and key for name and returns their paths and
// the signing identity.
func (o *testOrg) issue(t *testing.T, name string, role identity.Role, tls bool, notBefore time.Time, validity time.Duration) (config.KeyPair, *identity.SigningIdentity) {
	t.Helper()
	key, _ := fcrypto.GenerateKey()
	cert, err := identity.Issue(o.ca.Cert, o.ca.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public(),
		TLS: tls, IPs: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: notBefore, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(o.dir, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	kp := config.KeyPair{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	if err := fcrypto.WriteCertificate(kp.Cert, cert.Raw); err != nil {
		t.Fatal(err)
	}
	if err := fcrypto.WritePrivateKey(kp.Key, key); err != nil {
		t.Fatal(err)
	}
	si, err := identity.NewSigningIdentity(identity.Identity{MSPID: o.name + "MSP", Org: o.name, Name: name, Role: role, Cert: cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	return kp, si
}

// nodeConfig configures a node with the given signing identity files; role
// is the node's configured role (the certificate's may differ, to test refusals).
func (o *testOrg) nodeConfig(t *testing.T, name, role string, signing config.KeyPair) *config.Node {
	t.Helper()
	tlsKP, _ := o.issue(t, name, identity.Role(role), true, time.Now(), time.Hour)
	c := &config.Node{
		Format: config.Format, Name: name, Role: role, Org: o.name, MSPID: o.name + "MSP",
		Identity: signing, TLS: tlsKP, Listen: config.Listen{API: "127.0.0.1:0", P2P: "127.0.0.1:0"}, DataDir: filepath.Join(t.TempDir(), "data"),
		Genesis:    o.genesis(t, name, signing),
		Consortium: []config.OrgRef{{Name: o.name, MSPID: o.name + "MSP", RootCert: filepath.Join(o.dir, "root.pem")}},
	}
	c.EnsureDefaults()
	if err := c.Validate("test.yaml"); err != nil {
		t.Fatal(err)
	}
	return c
}

// genesis writes a one-orderer channel whose orderer is name (with the node
// ID of the certificate in signing, if it parses) and returns its path.
func (o *testOrg) genesis(t *testing.T, name string, signing config.KeyPair) string {
	t.Helper()
	nodeID := strings.Repeat("0", 64)
	if cert, err := fcrypto.ReadCertificate(signing.Cert); err == nil {
		nodeID, _ = fcrypto.KeyID(cert.PublicKey)
	}
	_, admin := o.issue(t, "admin", identity.RoleAdmin, false, time.Now(), time.Hour)
	cfg := &foliov1.ChannelConfig{Format: channel.Format, ChannelId: "folio",
		Orgs:     []*foliov1.OrgConfig{{Name: o.name, MspId: o.name + "MSP", Kind: foliov1.OrgKind_ORG_KIND_ORDERER, RootCerts: [][]byte{fcrypto.EncodeCertificatePEM(o.ca.Cert.Raw)}}},
		Orderers: []*foliov1.NodeEndpoint{{Name: name, Org: o.name, NodeId: nodeID}},
		Batch:    &foliov1.BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, TimeoutMs: 50}}
	g, err := channel.NewGenesis(cfg, admin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := proto.Marshal(g)
	p := filepath.Join(t.TempDir(), "genesis.block")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNodeServesMembersAndRefusesOthers(t *testing.T) {
	org := newTestOrg(t, "Org1")
	signKP, _ := org.issue(t, "orderer0", identity.RoleOrderer, false, time.Now(), time.Hour)
	cfg := org.nodeConfig(t, "orderer0", config.RoleOrderer, signKP)
	_, user := org.issue(t, "user1", identity.RoleClient, false, time.Now(), time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	opsAddr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, ConfigFile: "test.yaml", Logger: quiet, Ready: func(a string) { ready <- a },
			OperationsOpen: func(a string) { opsAddr <- a }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("node stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("node not ready")
	}

	roots := x509.NewCertPool()
	roots.AddCert(org.ca.Cert)
	info, err := client.NodeInfo(ctx, client.HTTPClient(sdk(t, user), roots), addr)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "orderer0" || !info.Ready || info.NodeId == "" || info.Role != "orderer" || info.RaftRole != "leader" || info.Height != 1 {
		t.Fatalf("info %+v", info)
	}

	// A member of another consortium is refused with the reason.
	stranger := newTestOrg(t, "Evil")
	_, evil := stranger.issue(t, "eve", identity.RoleClient, false, time.Now(), time.Hour)
	_, err = client.NodeInfo(ctx, client.HTTPClient(sdk(t, evil), roots), addr)
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "not the CA of any consortium organisation") {
		t.Fatalf("stranger: %v", err)
	}

	// Metrics, health and profiles answer on the operations listener
	// (plain HTTP on loopback), never to a client on the API listener.
	ops := <-opsAddr
	hc := client.HTTPClient(sdk(t, user), roots)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "folio_rpc_requests_total", "/debug/pprof/": "goroutine"} {
		resp, err := http.Get("http://" + ops + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("operations %s: %d %q", path, resp.StatusCode, body)
		}
		resp, err = hc.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s on the API listener answered %s to a client", path, resp.Status)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("node did not stop")
	}
}

func TestNodeRefusesBadIdentityAtStart(t *testing.T) {
	org := newTestOrg(t, "Org1")
	expired, _ := org.issue(t, "peer0", identity.RolePeer, false, time.Now().Add(-3*time.Hour), time.Hour)
	client, _ := org.issue(t, "peer0", identity.RoleClient, false, time.Now(), time.Hour)
	other := newTestOrg(t, "Org2")
	foreign, _ := other.issue(t, "peer0", identity.RolePeer, false, time.Now(), time.Hour)
	wrongName, _ := org.issue(t, "peer7", identity.RolePeer, false, time.Now(), time.Hour)

	for name, c := range map[string]struct {
		kp   config.KeyPair
		want []string
	}{
		"expired":      {expired, []string{"identity.cert", "expired", "enroll again"}},
		"client role":  {client, []string{"identity.cert", "role client", "enrolled with role peer"}},
		"foreign":      {foreign, []string{"identity.cert", "not issued by the organisation's CA"}},
		"another node": {wrongName, []string{"identity.cert", `"peer7"`}},
	} {
		cfg := org.nodeConfig(t, "peer0", config.RolePeer, c.kp)
		err := Run(context.Background(), Options{Config: cfg, ConfigFile: "test.yaml", Logger: quiet})
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v should mention %q", name, err, w)
			}
		}
	}
}

func TestNodePortInUse(t *testing.T) {
	org := newTestOrg(t, "Org1")
	signKP, _ := org.issue(t, "peer0", identity.RolePeer, false, time.Now(), time.Hour)
	cfg := org.nodeConfig(t, "peer0", config.RolePeer, signKP)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg.Listen.API = l.Addr().String()
	err = Run(context.Background(), Options{Config: cfg, ConfigFile: "test.yaml", Logger: quiet})
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "listen.api") {
		t.Fatalf("port in use: %v", err)
	}
}

// sdk returns the SDK's view of a server-side identity, for client calls.
func sdk(t *testing.T, si *identity.SigningIdentity) *client.Identity {
	t.Helper()
	id, err := client.NewIdentity(si.MSPID, si.Cert, si.Key())
	if err != nil {
		t.Fatal(err)
	}
	return id
}
