package node

import (
	"bufio"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
)

// renewFixture is a node's certificate files, loaded as Run loads them,
// with a reloader watching them.
type renewFixture struct {
	org      *testOrg
	cfg      *config.Node
	verifier *identity.Verifier
	self     *identity.SigningIdentity
	tlsCert  tls.Certificate
	reloader *certReloader
	metrics  *metrics
}

func newRenewFixture(t *testing.T) *renewFixture {
	t.Helper()
	org := newTestOrg(t, "Org1")
	signKP, _ := org.issue(t, "peer0", identity.RolePeer, false, time.Now(), time.Hour)
	tlsKP, _ := org.issue(t, "peer0", identity.RolePeer, true, time.Now(), time.Hour)
	cfg := &config.Node{Format: config.Format, Name: "peer0", Role: config.RolePeer, Org: "Org1", MSPID: "Org1MSP", Identity: signKP, TLS: tlsKP,
		Consortium: []config.OrgRef{{Name: "Org1", MSPID: "Org1MSP", RootCert: filepath.Join(org.dir, "root.pem")}}}
	cfg.EnsureDefaults()
	v, err := loadVerifier("test.yaml", cfg)
	if err != nil {
		t.Fatal(err)
	}
	self, tlsCert, err := loadNodeIdentity("test.yaml", cfg, v)
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(cfg.Name, cfg.Role, cfg.Org)
	r, err := newCertReloader(cfg, v, self, tlsCert, m, quiet)
	if err != nil {
		t.Fatal(err)
	}
	// The first look reads the files, which hold the certificates in use.
	if err := r.Check(); err != nil {
		t.Fatalf("first check of unchanged files: %v", err)
	}
	return &renewFixture{org: org, cfg: cfg, verifier: v, self: self, tlsCert: tlsCert, reloader: r, metrics: m}
}

// issueFor issues a certificate of the node's organisation CA for key.
func (f *renewFixture) issueFor(t *testing.T, name string, role identity.Role, key crypto.PublicKey, tlsUse bool, notBefore time.Time, validity time.Duration) *x509.Certificate {
	t.Helper()
	c, err := identity.Issue(f.org.ca.Cert, f.org.ca.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key, TLS: tlsUse,
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: notBefore, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// renewFiles writes renewals of both certificates, for the same keys, into
// the node's files, as `folio ca renew --node-dir --tls` does.
func (f *renewFixture) renewFiles(t *testing.T) (signing, tlsCert *x509.Certificate) {
	t.Helper()
	signing = f.issueFor(t, "peer0", identity.RolePeer, f.self.Key().Public(), false, time.Now(), 2*time.Hour)
	tlsCert = f.issueFor(t, "peer0", identity.RolePeer, f.tlsCert.Leaf.PublicKey, true, time.Now(), 2*time.Hour)
	writeCert(t, f.cfg.Identity.Cert, signing)
	writeCert(t, f.cfg.TLS.Cert, tlsCert)
	return signing, tlsCert
}

func writeCert(t *testing.T, path string, c *x509.Certificate) {
	t.Helper()
	if err := fcrypto.WriteCertificate(path, c.Raw); err != nil {
		t.Fatal(err)
	}
}

// peerHost is another node of the organisation, with static certificates.
func (f *renewFixture) peerHost(t *testing.T, name string) *p2p.Host {
	t.Helper()
	_, self := f.org.issue(t, name, identity.RolePeer, false, time.Now(), time.Hour)
	_, tlsID := f.org.issue(t, name, identity.RolePeer, true, time.Now(), time.Hour)
	h, err := p2p.New(p2p.Options{Self: self, TLS: tls.Certificate{Certificate: [][]byte{tlsID.Cert.Raw}, PrivateKey: tlsID.Key(), Leaf: tlsID.Cert},
		Verifier: f.verifier, ListenAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func runHost(t *testing.T, ctx context.Context, h *p2p.Host) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("host %s: %v", h.ID()[:8], err)
		}
	})
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatalf("host did not start: %v", err)
	}
}

// peerSerial dials addr over TLS and returns the serial of the
// certificate the server presents.
func peerSerial(t *testing.T, addr string, conf *tls.Config) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return identity.SerialHex(c.ConnectionState().PeerCertificates[0].SerialNumber)
}

// TestCertRenewedInPlace: the node's certificate files are renewed (same
// keys) while its API listener and p2p host run. New connections to both
// get the new TLS certificate, a new p2p session with the renewed node
// works, the session already up and an API connection already open keep
// working, and the signing identity serializes the renewed certificate.
func TestCertRenewedInPlace(t *testing.T) {
	f := newRenewFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The node's API listener, as Run serves it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiConf := &tls.Config{GetCertificate: f.reloader.GetCertificate, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }), apiConf,
			f.cfg.Limits, f.metrics, time.Second, quiet)
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("API listener: %v", err)
		}
	}()

	// The node's p2p host and another peer with a session to it.
	node, err := p2p.New(p2p.Options{Self: f.self, TLS: f.tlsCert, TLSSource: f.reloader.TLS, Verifier: f.verifier, ListenAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := node.HandleCall("test/echo", func(_ context.Context, _ p2p.PeerIdentity, req []byte) []byte { return req }); err != nil {
		t.Fatal(err)
	}
	runHost(t, ctx, node)
	other := f.peerHost(t, "peer1")
	runHost(t, ctx, other)
	if err := other.AddPeer(p2p.PeerSpec{NodeID: node.ID(), Name: "peer0", Addr: node.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	call := func(h *p2p.Host) {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		if got, err := h.Call(cctx, node.ID(), "test/echo", []byte("ping")); err != nil || string(got) != "ping" {
			t.Fatalf("call to the node: %q, %v", got, err)
		}
	}
	call(other)
	before := other.Sessions()
	if len(before) != 1 {
		t.Fatalf("want one session to the node, have %+v", before)
	}

	// A client of the API with an open connection, and its certificate.
	_, user := f.org.issue(t, "user1", identity.RoleClient, false, time.Now(), time.Hour)
	clientConf := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"},
		Certificates: []tls.Certificate{{Certificate: [][]byte{user.Cert.Raw}, PrivateKey: user.Key()}}}
	open, err := tls.Dial("tcp", ln.Addr().String(), clientConf)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	oldTLS := identity.SerialHex(f.tlsCert.Leaf.SerialNumber)
	if got := identity.SerialHex(open.ConnectionState().PeerCertificates[0].SerialNumber); got != oldTLS {
		t.Fatalf("API presents serial %s before renewal, want %s", got, oldTLS)
	}

	signing, tlsCert := f.renewFiles(t)
	if err := f.reloader.Check(); err != nil {
		t.Fatalf("renewal refused: %v", err)
	}
	newTLS := identity.SerialHex(tlsCert.SerialNumber)

	// New connections see the renewed TLS certificate, on both listeners.
	if got := peerSerial(t, ln.Addr().String(), clientConf); got != newTLS {
		t.Fatalf("a new API connection sees serial %s, want the renewed %s", got, newTLS)
	}
	p2pConf := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"folio-p2p/1"}}
	if got := peerSerial(t, node.Addr().String(), p2pConf); got != newTLS {
		t.Fatalf("a new p2p connection sees serial %s, want the renewed %s", got, newTLS)
	}
	// The signing identity presents the renewed certificate, with the same key.
	if !f.self.Certificate().Equal(signing) {
		t.Fatalf("signing identity has serial %x, want %x", f.self.Certificate().SerialNumber, signing.SerialNumber)
	}
	if id, err := f.verifier.ValidateSerialized(f.self.Serialized()); err != nil || id.Cert.SerialNumber.Cmp(signing.SerialNumber) != 0 {
		t.Fatalf("serialized identity after renewal: %v, %v", id, err)
	}

	// The session already up is the same one and still carries calls.
	call(other)
	after := other.Sessions()
	if len(after) != 1 || after[0].Conn != before[0].Conn {
		t.Fatalf("the session changed across the renewal: before %+v, after %+v", before, after)
	}
	// The API connection opened before the renewal still serves.
	if _, err := open.Write([]byte("GET / HTTP/1.1\r\nHost: node\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(open), nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("request on the connection opened before the renewal: %v, %v", resp, err)
	}
	_ = resp.Body.Close()

	// A node meeting the renewed node for the first time accepts its new
	// certificates (TLS and the node certificate in the handshake).
	third := f.peerHost(t, "peer2")
	runHost(t, ctx, third)
	if err := third.AddPeer(p2p.PeerSpec{NodeID: node.ID(), Name: "peer0", Addr: node.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	call(third)

	for _, which := range []string{certIdentity, certTLS} {
		if n := testutil.ToFloat64(f.reloader.renewals.WithLabelValues(which, "renewed")); n != 1 {
			t.Errorf("%s renewals counted %v, want 1", which, n)
		}
		want := signing.NotAfter.Unix()
		if which == certTLS {
			want = tlsCert.NotAfter.Unix()
		}
		if got := testutil.ToFloat64(f.reloader.notAfter.WithLabelValues(which)); int64(got) != want {
			t.Errorf("%s not-after gauge %v, want %d", which, got, want)
		}
	}
}

// TestCertRenewalRefused: a file that is no renewal of the running
// certificate is refused with a reason, and the node keeps the
// certificate it has; a good renewal written afterwards is taken.
func TestCertRenewalRefused(t *testing.T) {
	f := newRenewFixture(t)
	other, _ := fcrypto.GenerateKey()
	foreign := newTestOrg(t, "Org1") // same organisation name, another CA
	now := time.Now()
	signPub, tlsPub := f.self.Key().Public(), f.tlsCert.Leaf.PublicKey
	foreignCert := func(pub crypto.PublicKey, tlsUse bool) *x509.Certificate {
		c, err := identity.Issue(foreign.ca.Cert, foreign.ca.Key(), identity.LeafRequest{Name: "peer0", Role: identity.RolePeer, PublicKey: pub, TLS: tlsUse,
			IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	revoked := f.issueFor(t, "peer0", identity.RolePeer, signPub, false, now, time.Hour)
	crl, err := identity.NewCRL(f.org.ca.Cert, f.org.ca.Key(), 1, []identity.Revocation{{Serial: identity.SerialHex(revoked.SerialNumber), RevokedAt: now}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.verifier.UpdateCRL("Org1MSP", crl); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tls  bool
		cert *x509.Certificate
		want string
	}{
		{"signing certificate for a new key", false, f.issueFor(t, "peer0", identity.RolePeer, other.Public(), false, now, time.Hour), "folio orderer remove"},
		{"signing certificate for another node", false, f.issueFor(t, "peer1", identity.RolePeer, signPub, false, now, time.Hour), "this node is"},
		{"signing certificate with another role", false, f.issueFor(t, "peer0", identity.RoleOrderer, signPub, false, now, time.Hour), "this node is"},
		{"signing certificate from another CA", false, foreignCert(signPub, false), "not issued by"},
		{"expired signing certificate", false, f.issueFor(t, "peer0", identity.RolePeer, signPub, false, now.Add(-3*time.Hour), time.Hour), "valid from"},
		{"revoked signing certificate", false, revoked, "revoked"},
		{"TLS certificate for a new key", true, f.issueFor(t, "peer0", identity.RolePeer, other.Public(), true, now, time.Hour), "another key"},
		{"TLS certificate without server auth", true, f.issueFor(t, "peer0", identity.RolePeer, tlsPub, false, now, time.Hour), "server-auth"},
		{"TLS certificate from another CA", true, foreignCert(tlsPub, true), "not issued by"},
		{"TLS certificate for another node", true, f.issueFor(t, "peer1", identity.RolePeer, tlsPub, true, now, time.Hour), "this node is"},
	} {
		path := f.cfg.Identity.Cert
		if c.tls {
			path = f.cfg.TLS.Cert
		}
		writeCert(t, path, c.cert)
		err := f.reloader.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check = %v, want a refusal mentioning %q", c.name, err, c.want)
		}
		if !f.self.Certificate().Equal(f.self.Cert) || !f.reloader.TLS().Leaf.Equal(f.tlsCert.Leaf) {
			t.Fatalf("%s: a refused file replaced the node's certificate", c.name)
		}
		// The same refused file is not read (nor logged) again.
		if err := f.reloader.Check(); err != nil {
			t.Errorf("%s: unchanged refused file read again: %v", c.name, err)
		}
	}
	if n := testutil.ToFloat64(f.reloader.renewals.WithLabelValues(certIdentity, "refused")); n != 6 {
		t.Errorf("identity refusals counted %v, want 6", n)
	}
	// A file too large to be a certificate is not read whole.
	big := make([]byte, maxCertFileBytes+1)
	if err := atomicfile.WriteFile(f.cfg.TLS.Cert, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.reloader.Check(); err == nil || !strings.Contains(err.Error(), "not a certificate file") {
		t.Errorf("oversized file: %v", err)
	}

	signing, tlsCert := f.renewFiles(t)
	if err := f.reloader.Check(); err != nil {
		t.Fatalf("good renewal after refusals: %v", err)
	}
	if !f.self.Certificate().Equal(signing) || !f.reloader.TLS().Leaf.Equal(tlsCert) {
		t.Fatal("good renewal after refusals not installed")
	}
}
