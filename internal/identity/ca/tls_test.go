package ca_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
	"github.com/folio-ledger/folio/internal/types"
)

// registerAs signs a Register request with any certificate and key, as an
// attacker holding them would.
func registerAs(t *testing.T, cert *x509.Certificate, key crypto.Signer, name string) *foliov1.SignedCARequest {
	t.Helper()
	si, err := identity.FromCertificate("Org1MSP", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 24)
	_, _ = rand.Read(nonce)
	r := &foliov1.CARequest{Signer: si.Serialized(), TimestampUnixNano: time.Now().UnixNano(), Nonce: nonce,
		Op: &foliov1.CARequest_Register{Register: &foliov1.RegisterOp{Name: name, Role: string(identity.RoleAdmin)}}}
	b, _ := proto.Marshal(r)
	sig, err := si.Sign(types.DomainCARequest, b)
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.SignedCARequest{Request: b, Signature: sig}
}

// approveAs signs an approval of a config update with cert and key.
func approveAs(t *testing.T, cert *x509.Certificate, key crypto.Signer, msg []byte) *foliov1.Approval {
	t.Helper()
	si, err := identity.FromCertificate("Org1MSP", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := si.Sign(types.DomainConfig, msg)
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.Approval{Signer: si.Serialized(), Signature: sig}
}

// readTLS reads the CA's TLS certificate and key from its home.
func readTLS(t *testing.T, dir string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	cert, err := fcrypto.ReadCertificate(filepath.Join(dir, ca.TLSCertFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := fcrypto.ReadPrivateKey(filepath.Join(dir, ca.TLSKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestCATLSKeyIsNoIdentity: the CA's TLS key sits on its network-facing
// host. Its certificate is TLS-only (server auth, no role), so whoever
// steals the key cannot register admins at the CA, approve a config update
// or contract activation (channel.Approvers is the path both take), or be
// admitted as anybody.
func TestCATLSKeyIsNoIdentity(t *testing.T) {
	f := newFixture(t)
	cert, key := readTLS(t, f.dir)
	if len(cert.Subject.OrganizationalUnit) != 0 || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Fatalf("CA TLS certificate: OU %q, usages %v; want no OU and server auth only", cert.Subject.OrganizationalUnit, cert.ExtKeyUsage)
	}
	if err := ca.CheckServerTLS(cert); err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(f.auth.Certificate()); err != nil {
		t.Fatalf("the CA's TLS certificate must still chain to its root (clients trust only that): %v", err)
	}

	if _, err := f.verifier(t).Validate("Org1MSP", cert); !errors.Is(err, identity.ErrNoRole) {
		t.Fatalf("CA TLS certificate as an identity: %v, want ErrNoRole", err)
	}
	_, err := f.svc.Register(context.Background(), connect.NewRequest(registerAs(t, cert, key, "mallory")))
	if code(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "no identity") {
		t.Fatalf("admin request signed with the CA's TLS key: %v, want permission denied (no role)", err)
	}
	chain, err := identity.NewChainVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: f.auth.Certificate()}})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("config update")
	signers, bad := channel.Approvers(chain, types.DomainConfig, msg, []*foliov1.Approval{approveAs(t, cert, key, msg)})
	if len(signers) != 0 || len(bad) != 1 || !strings.Contains(bad[0], identity.ErrNoRole.Error()) {
		t.Fatalf("approval signed with the CA's TLS key: signers %v, refused %q", signers, bad)
	}
}

// TestLegacyCATLSCertificateRefused: a CA made before issue 18 gave its TLS
// certificate the admin role (server and client auth, OU admin). That
// certificate passes every check the MSP made then (issued by the root,
// current, in no revocation list since the registry never held its
// serial, exactly one role: admin), so its key was an admin of the
// organisation nobody could revoke: it could register more admins and
// approve config updates. The MSP now refuses a server-auth certificate
// with a client or admin role; the CA refuses to start with it; RenewTLS
// replaces it.
func TestLegacyCATLSCertificateRefused(t *testing.T) {
	f := newFixture(t)
	rootKey, err := fcrypto.ReadPrivateKey(filepath.Join(f.dir, ca.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// Exactly what ca.Init issued before issue 18.
	legacy, err := identity.Issue(f.auth.Certificate(), rootKey, identity.LeafRequest{Name: "ca.org1", Role: identity.RoleAdmin, PublicKey: key.Public(), TLS: true,
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fcrypto.WriteCertificate(filepath.Join(f.dir, ca.TLSCertFile), legacy.Raw); err != nil {
		t.Fatal(err)
	}
	if err := fcrypto.WritePrivateKey(filepath.Join(f.dir, ca.TLSKeyFile), key); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.auth.List() {
		if slices.Contains(r.Serials, identity.SerialHex(legacy.SerialNumber)) {
			t.Fatalf("the registry holds the legacy TLS serial under %s: it could have been revoked", r.Name)
		}
	}

	// ErrServerUsage is the MSP's last check: the legacy certificate
	// passed issuer, validity, revocation and role (admin) before it.
	_, err = f.verifier(t).Validate("Org1MSP", legacy)
	var verr *identity.ValidationError
	if !errors.Is(err, identity.ErrServerUsage) || !errors.As(err, &verr) || !strings.Contains(verr.Detail, "role admin") {
		t.Fatalf("legacy CA TLS certificate as an identity: %v, want ErrServerUsage after the admin role was read", err)
	}
	_, err = f.svc.Register(context.Background(), connect.NewRequest(registerAs(t, legacy, key, "mallory")))
	if code(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), identity.ErrServerUsage.Error()) {
		t.Fatalf("admin request signed with the legacy CA TLS key: %v, want permission denied", err)
	}
	chain, err := identity.NewChainVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: f.auth.Certificate()}})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("config update")
	if signers, bad := channel.Approvers(chain, types.DomainConfig, msg, []*foliov1.Approval{approveAs(t, legacy, key, msg)}); len(signers) != 0 || len(bad) != 1 {
		t.Fatalf("approval signed with the legacy CA TLS key: signers %v, refused %q", signers, bad)
	}
	// The genuine admin still approves (the check is not over-broad).
	admin, err := identity.FromCertificate("Org1MSP", f.admin.Certificate(), f.admin.Key())
	if err != nil {
		t.Fatal(err)
	}
	if signers, bad := channel.Approvers(chain, types.DomainConfig, msg, []*foliov1.Approval{approveAs(t, admin.Cert, admin.Key(), msg)}); len(signers) != 1 || len(bad) != 0 {
		t.Fatalf("the enrolled admin's approval: signers %v, refused %q", signers, bad)
	}

	if err := ca.CheckServerTLS(legacy); !errors.Is(err, ca.ErrLegacyTLS) {
		t.Fatalf("CheckServerTLS(legacy): %v, want ErrLegacyTLS", err)
	}
	renewed, err := ca.RenewTLS(f.dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, newKey := readTLS(t, f.dir)
	if !cert.Equal(renewed) || ca.CheckServerTLS(cert) != nil {
		t.Fatalf("renewed certificate on disk: OU %q, usages %v", cert.Subject.OrganizationalUnit, cert.ExtKeyUsage)
	}
	if !slices.Equal(cert.DNSNames, legacy.DNSNames) || len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(legacy.IPAddresses[0]) || cert.Subject.CommonName != "ca.org1" {
		t.Fatalf("renewed certificate names %q %v %v, want the legacy one's", cert.Subject.CommonName, cert.DNSNames, cert.IPAddresses)
	}
	if newID, _ := fcrypto.KeyID(newKey.Public()); newID == mustKeyID(t, key) {
		t.Fatal("RenewTLS kept the key of the legacy certificate")
	}
}

// TestCheckServerTLSWantsServerAuth: a CA cannot serve with a client-auth
// certificate (clients would refuse it anyway).
func TestCheckServerTLSWantsServerAuth(t *testing.T) {
	f := newFixture(t)
	if err := ca.CheckServerTLS(f.admin.Certificate()); !errors.Is(err, identity.ErrKeyUsage) {
		t.Fatalf("admin signing certificate as the CA's TLS certificate: %v, want ErrKeyUsage", err)
	}
}

func mustKeyID(t *testing.T, key crypto.Signer) string {
	t.Helper()
	id, err := fcrypto.KeyID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return id
}
