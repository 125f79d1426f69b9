package client_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// hsmKey stands for a key the application cannot read (PKCS#11, KMS):
// only crypto.Signer's methods are visible, and it counts its uses.
type hsmKey struct {
	inner crypto.Signer
	uses  *int
}

func (k hsmKey) Public() crypto.PublicKey { return k.inner.Public() }
func (k hsmKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	*k.uses++
	return k.inner.Sign(r, d, o)
}

// issue returns a CA-issued certificate for a fresh key and the MSP that
// validates it.
func issue(t *testing.T, name string, role identity.Role) (*x509.Certificate, crypto.Signer, *identity.Verifier) {
	t.Helper()
	caKey, _ := fcrypto.GenerateKey()
	root, err := identity.NewRootCA("Org1", "ca.org1", caKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := fcrypto.GenerateKey()
	cert, err := identity.Issue(root, caKey, identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: root}}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, v
}

// An application brings its own key: the SDK signs through crypto.Signer
// only, and what it signs verifies as the certificate's identity.
func TestIdentityWithAnExternalKey(t *testing.T) {
	cert, key, msp := issue(t, "admin", identity.RoleAdmin)
	uses := 0
	id, err := client.NewIdentity("Org1MSP", cert, hsmKey{inner: key, uses: &uses})
	if err != nil {
		t.Fatal(err)
	}
	if id.Label() != "admin@Org1" || id.Role() != "admin" || id.MSPID() != "Org1MSP" || !id.Certificate().Equal(cert) {
		t.Fatalf("identity read from the certificate: %v", id)
	}
	env, txID, err := client.NewLifecycleEnvelope(id, "folio", &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Install{
		Install: &foliov1.InstallRecord{Contract: "c", Version: "1", Peer: "p"}}}, []*client.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if uses != 2 {
		t.Fatalf("the external key signed %d times, want 2 (envelope and approval)", uses)
	}
	p, err := types.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if p.Header.TxId != txID {
		t.Fatalf("tx ID %s, header says %s", txID, p.Header.TxId)
	}
	creator, err := msp.ValidateSerialized(p.Header.Creator)
	if err != nil {
		t.Fatal(err)
	}
	if err := fcrypto.Verify(creator.Cert.PublicKey, types.DomainEnvelope, env.Payload, env.Signature); err != nil {
		t.Fatalf("envelope signature: %v", err)
	}
	var ltx foliov1.LifecycleTx
	if err := proto.Unmarshal(p.Data, &ltx); err != nil || len(ltx.Approvals) != 1 {
		t.Fatalf("lifecycle tx: %v %v", &ltx, err)
	}
	if err := fcrypto.Verify(creator.Cert.PublicKey, types.DomainActivation, ltx.Request, ltx.Approvals[0].Signature); err != nil {
		t.Fatalf("approval signature: %v", err)
	}
}

func TestNewIdentityRefusesAMismatchedKey(t *testing.T) {
	cert, _, _ := issue(t, "user1", identity.RoleClient)
	other, _ := fcrypto.GenerateKey()
	if _, err := client.NewIdentity("Org1MSP", cert, other); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched key: %v", err)
	}
	if _, err := client.NewIdentity("", cert, other); err == nil {
		t.Fatal("empty MSP ID accepted")
	}
	if _, err := client.NewIdentity("Org1MSP", nil, other); err == nil {
		t.Fatal("nil certificate accepted")
	}
}

// A nil or zero Identity (one not made by NewIdentity) fails with
// ErrNoIdentity wherever it would sign: no call of the SDK crashes on it.
func TestZeroIdentityFailsCleanly(t *testing.T) {
	for name, id := range map[string]*client.Identity{"nil": nil, "zero": {}} {
		if id.Label() != "@" || id.MSPID() != "" || id.Certificate() != nil || id.Key() != nil || id.Serialized() != nil {
			t.Errorf("%s: accessors: %q %q", name, id.Label(), id.MSPID())
		}
		if _, err := client.NewGatewayWithOptions(client.HTTPClient(id, nil), id, client.GatewayOptions{
			Channel: "folio", Endpoints: client.Endpoints("127.0.0.1:1")}); !errors.Is(err, client.ErrNoIdentity) {
			t.Errorf("%s: gateway: %v", name, err)
		}
		if _, err := client.PackageContract(id, "c", "1", []byte("\x00asm"), false); !errors.Is(err, client.ErrNoIdentity) {
			t.Errorf("%s: package: %v", name, err)
		}
		if _, _, err := client.NewLifecycleEnvelope(id, "folio", &foliov1.LifecycleRequest{}, []*client.Identity{id}); !errors.Is(err, client.ErrNoIdentity) {
			t.Errorf("%s: lifecycle envelope: %v", name, err)
		}
		if _, _, err := client.NewConfigEnvelope(id, &foliov1.ConfigUpdate{ChannelId: "folio"}, nil); !errors.Is(err, client.ErrNoIdentity) {
			t.Errorf("%s: config envelope: %v", name, err)
		}
		gw := client.NewGateway(client.HTTPClient(nil, nil), "127.0.0.1:1", "folio", id)
		if _, err := gw.Evaluate(context.Background(), "c", "f"); !errors.Is(err, client.ErrNoIdentity) {
			t.Errorf("%s: evaluate through NewGateway: %v", name, err)
		}
	}
}
