package node

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
)

// legacyCATLS issues what a CA made before issue 18 used as its TLS
// certificate: the admin role with server and client auth.
func legacyCATLS(t *testing.T, root *x509.Certificate, rootKey crypto.Signer) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, _ := fcrypto.GenerateKey()
	cert, err := identity.Issue(root, rootKey, identity.LeafRequest{Name: root.Subject.CommonName, Role: identity.RoleAdmin, PublicKey: key.Public(), TLS: true,
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestCATLSCertificateIsNoCaller: the API listener and the operations
// listener judge client certificates themselves (RequireAnyClientCert),
// so they check the usage too. A CA's TLS-only certificate (no client
// auth, no role) and a pre-issue-18 CA TLS certificate (role admin with
// server auth, which the operations listener used to accept as an admin)
// are refused; an admin's signing certificate is still served.
func TestCATLSCertificateIsNoCaller(t *testing.T) {
	org := newTestOrg(t, "Org1")
	v, err := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: org.ca.Cert}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := fcrypto.GenerateKey()
	caTLS, err := identity.IssueServerTLS(org.ca.Cert, org.ca.Key(), identity.ServerTLSRequest{Name: "ca.Org1", PublicKey: key.Public(), DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := legacyCATLS(t, org.ca.Cert, org.ca.Key())
	_, admin := org.issue(t, "admin", identity.RoleAdmin, false, time.Now(), time.Hour)

	m := newMetrics("peer0", config.RolePeer, "Org1")
	api := authenticate(v, m, quiet, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	ops := adminOf(v)
	for _, c := range []struct {
		name   string
		cert   *x509.Certificate
		reason string // "" = admitted
		ops    error  // want from adminOf, nil = admitted
	}{
		{"CA TLS-only certificate", caTLS, "key_usage", identity.ErrKeyUsage},
		{"pre-issue-18 CA TLS certificate", legacy, "server_certificate", identity.ErrServerUsage},
		{"admin signing certificate", admin.Cert, "", nil},
	} {
		before := testutil.ToFloat64(m.authRejected.WithLabelValues(c.reason))
		r := httptest.NewRequest(http.MethodGet, "/folio.v1.NodeService/GetInfo", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.cert}}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		switch {
		case c.reason == "" && w.Code != http.StatusOK:
			t.Errorf("API, %s: %d %s, want served", c.name, w.Code, w.Body)
		case c.reason != "" && w.Code != http.StatusForbidden:
			t.Errorf("API, %s: %d, want 403", c.name, w.Code)
		case c.reason != "" && testutil.ToFloat64(m.authRejected.WithLabelValues(c.reason)) != before+1:
			t.Errorf("API, %s: refusal not counted under reason %q", c.name, c.reason)
		}
		if err := ops(c.cert); (c.ops == nil) != (err == nil) || (c.ops != nil && !errors.Is(err, c.ops)) {
			t.Errorf("operations, %s: %v, want %v", c.name, err, c.ops)
		}
	}
}

// TestCARefusesLegacyTLSCertificate: a CA made by folio before issue 18
// does not start with its admin-role TLS certificate, and says how to fix
// it; after `folio ca renew-tls` (ca.RenewTLS) the certificate passes.
func TestCARefusesLegacyTLSCertificate(t *testing.T) {
	home := filepath.Join(t.TempDir(), "ca")
	auth, _, err := ca.Init(home, ca.InitOptions{Org: "Org1", MSPID: "Org1MSP"})
	if err != nil {
		t.Fatal(err)
	}
	rootKey, err := fcrypto.ReadPrivateKey(filepath.Join(home, ca.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	legacy, legacyKey := legacyCATLS(t, auth.Certificate(), rootKey)
	kp := config.KeyPair{Cert: filepath.Join(home, ca.TLSCertFile), Key: filepath.Join(home, ca.TLSKeyFile)}
	if err := fcrypto.WriteCertificate(kp.Cert, legacy.Raw); err != nil {
		t.Fatal(err)
	}
	if err := fcrypto.WritePrivateKey(kp.Key, legacyKey); err != nil {
		t.Fatal(err)
	}
	cfg := &config.CA{Format: config.Format, Name: "ca.org1", Org: "Org1", MSPID: "Org1MSP", Home: home, TLS: kp,
		Listen: config.Listen{API: "127.0.0.1:0", Operations: "127.0.0.1:0"}, CRLValidity: time.Hour, ShutdownGrace: time.Second}
	err = RunCA(context.Background(), CAOptions{Config: cfg, ConfigFile: "ca.yaml", Logger: quiet})
	if !errors.Is(err, ca.ErrLegacyTLS) || !strings.Contains(err.Error(), "tls.cert") || !strings.Contains(err.Error(), "folio ca renew-tls --home "+home) {
		t.Fatalf("CA started with a legacy TLS certificate or said no fix: %v", err)
	}
	if _, err := ca.RenewTLS(home, nil, nil); err != nil {
		t.Fatal(err)
	}
	tlsCert, err := tls.LoadX509KeyPair(kp.Cert, kp.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.CheckServerTLS(tlsCert.Leaf); err != nil {
		t.Fatalf("after renew-tls: %v", err)
	}
}

// TestNodeTLSNeedsBothUsages: a node serves its listeners and dials other
// nodes with its TLS certificate, so it refuses to start with one that
// lacks server auth (its signing certificate, say), naming the field.
func TestNodeTLSNeedsBothUsages(t *testing.T) {
	org := newTestOrg(t, "Org1")
	signKP, _ := org.issue(t, "peer0", identity.RolePeer, false, time.Now(), time.Hour)
	cfg := org.nodeConfig(t, "peer0", config.RolePeer, signKP)
	cfg.TLS = signKP
	err := Run(context.Background(), Options{Config: cfg, ConfigFile: "test.yaml", Logger: quiet})
	if !errors.Is(err, identity.ErrKeyUsage) || !strings.Contains(err.Error(), "tls.cert") || !strings.Contains(err.Error(), "server-auth") {
		t.Fatalf("node started with a TLS certificate lacking server auth: %v", err)
	}
}

// TestCRLFetchWantsServerAuth: the client a node fetches revocation lists
// with refuses a "CA" whose certificate chains to the organisation's root
// and names the address but lacks server auth (an enrolled member's).
func TestCRLFetchWantsServerAuth(t *testing.T) {
	org := newTestOrg(t, "Org1")
	// A member's certificate for the address dialed: only the usage is wrong.
	memberKey, _ := fcrypto.GenerateKey()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mallory", Organization: []string{"Org1"}, OrganizationalUnit: []string{"client"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, org.ca.Cert, memberKey.Public(), org.ca.Key())
	if err != nil {
		t.Fatal(err)
	}
	member, _ := x509.ParseCertificate(der)
	_, peer := org.issue(t, "peer0", identity.RolePeer, true, time.Now(), time.Hour)
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		key  crypto.Signer
		ok   bool
	}{
		{"member certificate", member, memberKey, false},
		{"node TLS certificate", peer.Cert, peer.Key(), true},
	} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert}}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
		srv.StartTLS()
		resp, err := caHTTPClient(org.ca.Cert).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		srv.Close()
		if (err == nil) != c.ok || (!c.ok && !strings.Contains(err.Error(), "usage")) {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
