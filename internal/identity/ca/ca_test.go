package ca_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
	"github.com/folio-ledger/folio/internal/types"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	dir   string
	auth  *ca.Authority
	svc   *ca.Service
	cli   *client.CA
	admin *client.Identity
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	auth, secret, err := ca.Init(dir, ca.InitOptions{Org: "Org1", MSPID: "Org1MSP"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ca.NewService(auth, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, auth: auth, svc: svc, cli: client.NewCAWith(svc)}
	f.admin = f.enroll(t, "admin", secret)
	return f
}

func (f *fixture) enroll(t *testing.T, name, secret string) *client.Identity {
	t.Helper()
	e, err := f.cli.Enroll(context.Background(), name, secret, client.EnrollOptions{})
	if err != nil {
		t.Fatalf("enroll %s: %v", name, err)
	}
	si, err := client.NewIdentity("Org1MSP", e.Cert, e.Key)
	if err != nil {
		t.Fatal(err)
	}
	return si
}

func (f *fixture) verifier(t *testing.T) *identity.Verifier {
	t.Helper()
	v, err := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: f.auth.Certificate()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.cli.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.UpdateCRL("Org1MSP", info.CrlDer); err != nil {
		t.Fatal(err)
	}
	return v
}

func code(err error) connect.Code { return connect.CodeOf(err) }

func TestRegisterEnrollRevoke(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, err := f.cli.Register(ctx, f.admin, "alice", "client")
	if err != nil {
		t.Fatal(err)
	}
	alice := f.enroll(t, "alice", secret)
	v := f.verifier(t)
	id, err := v.Validate("Org1MSP", alice.Certificate())
	if err != nil || id.Role != identity.RoleClient || id.Name != "alice" {
		t.Fatalf("enrolled alice does not validate: %+v %v", id, err)
	}

	// The secret is one-time.
	if _, err := f.cli.Enroll(ctx, "alice", secret, client.EnrollOptions{}); code(err) != connect.CodePermissionDenied {
		t.Fatalf("second enrolment with the same secret: %v", err)
	}
	// A duplicate registration is refused.
	if _, err := f.cli.Register(ctx, f.admin, "alice", "client"); code(err) != connect.CodeAlreadyExists {
		t.Fatalf("duplicate register: %v", err)
	}
	// A client may not register anyone.
	if _, err := f.cli.Register(ctx, alice, "mallory", string(identity.RoleAdmin)); code(err) != connect.CodePermissionDenied {
		t.Fatalf("register by a client: %v", err)
	}

	res, err := f.cli.Revoke(ctx, f.admin, "alice", "left the company")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Serials) != 1 || res.Serials[0] != identity.SerialHex(alice.Certificate().SerialNumber) {
		t.Fatalf("revoked serials %v", res.Serials)
	}
	_, err = f.verifier(t).Validate("Org1MSP", alice.Certificate())
	if !errors.Is(err, identity.ErrRevoked) || !strings.Contains(err.Error(), res.Serials[0]) {
		t.Fatalf("revoked alice still validates or unclear reason: %v", err)
	}
	// A revoked admin can no longer act.
	secret, _ = f.cli.Register(ctx, f.admin, "admin2", "admin")
	admin2 := f.enroll(t, "admin2", secret)
	if _, err := f.cli.Revoke(ctx, f.admin, "admin2", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cli.List(ctx, admin2); code(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked admin listed identities: %v", err)
	}

	recs, err := f.cli.List(ctx, f.admin)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, r := range recs {
		status[r.Name] = r.Status
	}
	if status["admin"] != ca.StatusEnrolled || status["alice"] != ca.StatusRevoked || status["admin2"] != ca.StatusRevoked {
		t.Fatalf("statuses %v", status)
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, _ := f.cli.Register(ctx, f.admin, "bob", string(identity.RoleClient))
	bob := f.enroll(t, "bob", secret)
	if _, err := f.cli.Revoke(ctx, f.admin, "bob", ""); err != nil {
		t.Fatal(err)
	}
	reopened, err := ca.Open(f.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: reopened.Certificate()}}, nil)
	if err := v.UpdateCRL("Org1MSP", reopened.CRL()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate("Org1MSP", bob.Certificate()); !errors.Is(err, identity.ErrRevoked) {
		t.Fatalf("revocation lost on reopen: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(f.dir, ca.KeyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %04o", fi.Mode().Perm())
	}
}

func TestNewerRegistryFormatRefused(t *testing.T) {
	f := newFixture(t)
	p := filepath.Join(f.dir, ca.RegistryFile)
	data, _ := os.ReadFile(p)
	_ = os.WriteFile(p, []byte(strings.Replace(string(data), `"format": 1`, `"format": 99`, 1)), 0o600)
	if _, err := ca.Open(f.dir, nil); err == nil || !strings.Contains(err.Error(), "upgrade folio") {
		t.Fatalf("newer format: %v", err)
	}
}

// signRaw builds a signed admin request by hand so tests can replay it or
// give it a stale timestamp.
func signRaw(t *testing.T, sdkAdmin *client.Identity, at time.Time, nonce []byte) *foliov1.SignedCARequest {
	admin, err := identity.FromCertificate(sdkAdmin.MSPID(), sdkAdmin.Certificate(), sdkAdmin.Key())
	if err != nil {
		t.Fatal(err)
	}
	r := &foliov1.CARequest{Signer: admin.Serialized(), TimestampUnixNano: at.UnixNano(), Nonce: nonce,
		Op: &foliov1.CARequest_List{List: &foliov1.ListOp{}}}
	b, _ := proto.Marshal(r)
	sig, err := admin.Sign(types.DomainCARequest, b)
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.SignedCARequest{Request: b, Signature: sig}
}

func TestAdminRequestsAreFreshAndUnreplayable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	nonce := make([]byte, 24)
	_, _ = rand.Read(nonce)
	req := signRaw(t, f.admin, time.Now(), nonce)
	if _, err := f.svc.ListIdentities(ctx, connect.NewRequest(req)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ListIdentities(ctx, connect.NewRequest(req)); code(err) != connect.CodeAlreadyExists {
		t.Fatalf("replay: %v", err)
	}
	_, _ = rand.Read(nonce)
	stale := signRaw(t, f.admin, time.Now().Add(-time.Hour), nonce)
	if _, err := f.svc.ListIdentities(ctx, connect.NewRequest(stale)); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("stale request: %v", err)
	}
	_, _ = rand.Read(nonce)
	tampered := signRaw(t, f.admin, time.Now(), nonce)
	tampered.Request[len(tampered.Request)-1] ^= 1
	if _, err := f.svc.ListIdentities(ctx, connect.NewRequest(tampered)); err == nil {
		t.Fatal("tampered request accepted")
	}
	// An operation that does not match the method is refused.
	_, _ = rand.Read(nonce)
	if _, err := f.svc.Register(ctx, connect.NewRequest(signRaw(t, f.admin, time.Now(), nonce))); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("list op sent to Register: %v", err)
	}
}

func TestEnrollRejectsBadRequests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, _ := f.cli.Register(ctx, f.admin, "carol", string(identity.RoleClient))
	if _, err := f.svc.Enroll(ctx, connect.NewRequest(&foliov1.EnrollRequest{Name: "carol", Secret: secret, CsrDer: []byte("junk")})); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("junk CSR: %v", err)
	}
	if _, err := f.cli.Enroll(ctx, "carol", "wrong", client.EnrollOptions{}); code(err) != connect.CodePermissionDenied {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := f.cli.Enroll(ctx, "nobody", secret, client.EnrollOptions{}); code(err) != connect.CodePermissionDenied {
		t.Fatalf("unknown name: %v", err)
	}
	// A client gets no TLS server certificate: its signing certificate is
	// its TLS client certificate, and the MSP would refuse a server-auth
	// certificate with the client role (identity.ErrServerUsage).
	if _, err := f.cli.Enroll(ctx, "carol", secret, client.EnrollOptions{TLSHosts: []string{"127.0.0.1"}}); code(err) != connect.CodeInvalidArgument ||
		!strings.Contains(err.Error(), "peers and orderers") {
		t.Fatalf("TLS certificate for a client: %v", err)
	}
	// The secret survived the failed attempts and still works once.
	e, err := f.cli.Enroll(ctx, "carol", secret, client.EnrollOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.TLSCert != nil || identity.HasExtKeyUsage(e.Cert, x509.ExtKeyUsageServerAuth) || !identity.HasExtKeyUsage(e.Cert, x509.ExtKeyUsageClientAuth) {
		t.Fatalf("a client's certificate must be client-auth only: usages %v, TLS certificate %v", e.Cert.ExtKeyUsage, e.TLSCert)
	}
	// A node gets a TLS certificate for both sides of a session.
	secret, _ = f.cli.Register(ctx, f.admin, "peer0.org1", string(identity.RolePeer))
	e, err = f.cli.Enroll(ctx, "peer0.org1", secret, client.EnrollOptions{TLSHosts: []string{"127.0.0.1", "peer0.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.TLSCert == nil || len(e.TLSCert.IPAddresses) != 1 || e.TLSCert.DNSNames[0] != "peer0.example" {
		t.Fatalf("TLS certificate SANs: %+v", e.TLSCert)
	}
	if !identity.HasExtKeyUsage(e.TLSCert, x509.ExtKeyUsageServerAuth) || !identity.HasExtKeyUsage(e.TLSCert, x509.ExtKeyUsageClientAuth) {
		t.Fatalf("node TLS certificate usages %v, want server and client auth", e.TLSCert.ExtKeyUsage)
	}
	if _, err := f.cli.Register(ctx, f.admin, "bad name!", string(identity.RoleClient)); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := f.cli.Register(ctx, f.admin, "dave", "superuser"); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("bad role: %v", err)
	}
}

// TestCRLResignedBeforeItGoesStale: a running CA signs its list again once
// half its validity has passed (same number and revocations, later
// NextUpdate), so nodes that keep fetching never see it out of date.
func TestCRLResignedBeforeItGoesStale(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if _, _, err := ca.Init(dir, ca.InitOptions{Org: "Org1", MSPID: "Org1MSP"}); err != nil {
		t.Fatal(err)
	}
	auth, err := ca.Open(dir, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.SetCRLValidity(time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := auth.SetCRLValidity(time.Millisecond); err == nil {
		t.Fatal("a validity under 1s was accepted")
	}
	parse := func(der []byte) *x509.RevocationList {
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	first := parse(auth.CRL())
	if got := first.NextUpdate.Sub(first.ThisUpdate); got != time.Hour {
		t.Fatalf("validity %s, want 1h", got)
	}
	now = now.Add(20 * time.Minute)
	if same := parse(auth.CRL()); !same.ThisUpdate.Equal(first.ThisUpdate) {
		t.Fatal("re-signed before half the validity passed")
	}
	now = now.Add(15 * time.Minute)
	again := parse(auth.CRL())
	if !again.ThisUpdate.After(first.ThisUpdate) || again.Number.Cmp(first.Number) != 0 {
		t.Fatalf("after 35 of 60 minutes: this update %s (was %s), number %s (was %s)", again.ThisUpdate, first.ThisUpdate, again.Number, first.Number)
	}
	v, _ := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: auth.Certificate()}}, func() time.Time { return now.Add(50 * time.Minute) })
	_ = v.ExpectCRL("Org1MSP")
	if err := v.UpdateCRL("Org1MSP", auth.CRL()); err != nil {
		t.Fatal(err)
	}
	if err := v.CRLCurrent("Org1MSP"); err != nil {
		t.Fatalf("the re-signed list is current 85 minutes after the first: %v", err)
	}
}
