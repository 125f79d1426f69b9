package client_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
)

// serverWith serves a CA service over TLS with cert, issued for 127.0.0.1.
func serverWith(t *testing.T, cert *x509.Certificate, key crypto.Signer, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}, ClientAuth: tls.RequestClientCert}
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://")
}

// TestClientsWantServerAuth: every client of the SDK (the gateway, node
// and CA clients all dial through HTTPClient) refuses a server whose
// certificate chains to the trusted root and names the address dialed but
// lacks the server-auth usage: an enrolled member's certificate (client
// auth only) cannot pose as a peer, orderer or CA. A TLS-only server
// certificate (a CA's) and a node's TLS certificate are accepted; an
// admin's signing certificate still works as a TLS client certificate.
func TestClientsWantServerAuth(t *testing.T) {
	caKey, _ := fcrypto.GenerateKey()
	root, err := identity.NewRootCA("Org1", "ca.org1", caKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	// A member's certificate with the address of the server in its SANs:
	// only the usage is wrong.
	memberKey, _ := fcrypto.GenerateKey()
	member, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mallory", Organization: []string{"Org1"}, OrganizationalUnit: []string{"peer"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, IPAddresses: loopback,
	}, root, memberKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	memberCert, _ := x509.ParseCertificate(member)
	serverKey, _ := fcrypto.GenerateKey()
	serverOnly, err := identity.IssueServerTLS(root, caKey, identity.ServerTLSRequest{Name: "ca.org1", PublicKey: serverKey.Public(), IPs: loopback})
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, _ := fcrypto.GenerateKey()
	nodeTLS, err := identity.Issue(root, caKey, identity.LeafRequest{Name: "peer0.org1", Role: identity.RolePeer, PublicKey: nodeKey.Public(), TLS: true, IPs: loopback})
	if err != nil {
		t.Fatal(err)
	}
	adminKey, _ := fcrypto.GenerateKey()
	adminCert, err := identity.Issue(root, caKey, identity.LeafRequest{Name: "admin", Role: identity.RoleAdmin, PublicKey: adminKey.Public()})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.NewIdentity("Org1MSP", adminCert, adminKey)
	if err != nil {
		t.Fatal(err)
	}

	// The CA service of an organisation, answering GetCAInfo.
	auth, _, err := ca.Init(t.TempDir(), ca.InitOptions{Org: "Org1", MSPID: "Org1MSP"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ca.NewService(auth, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	path, h := foliov1connect.NewCAServiceHandler(svc)
	mux := http.NewServeMux()
	mux.Handle(path, h)
	var sawClientCert atomic.Bool
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && r.TLS.PeerCertificates[0].Equal(adminCert) {
			sawClientCert.Store(true)
		}
		mux.ServeHTTP(w, r)
	})

	pool := x509.NewCertPool()
	pool.AddCert(root)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		key  crypto.Signer
		ok   bool
	}{
		{"member certificate (client auth only)", memberCert, memberKey, false},
		{"TLS-only server certificate", serverOnly, serverKey, true},
		{"node TLS certificate", nodeTLS, nodeKey, true},
	} {
		addr := serverWith(t, c.cert, c.key, handler)
		_, err := client.NewCA(addr, root).Info(ctx)
		if (err == nil) != c.ok || (!c.ok && !strings.Contains(err.Error(), "usage")) {
			t.Errorf("CA client, server with %s: %v, want ok=%v", c.name, err, c.ok)
		}
		_, err = foliov1connect.NewCAServiceClient(client.HTTPClient(admin, pool), "https://"+addr).GetCAInfo(ctx, connect.NewRequest(&foliov1.GetCAInfoRequest{}))
		if (err == nil) != c.ok {
			t.Errorf("HTTPClient as admin, server with %s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
	if !sawClientCert.Load() {
		t.Error("the admin's signing certificate was not presented as the TLS client certificate")
	}
}
