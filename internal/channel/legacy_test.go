package channel

import (
	"errors"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// A CA's TLS certificate as folio issued it before issue 18 (role admin,
// server and client auth) is no identity from capability level 3 on, and
// validates as it always did below it: a validation rule changes with the
// level, so replaying an old chain on a new binary gives the same verdicts.
func TestLegacyServerIdentityByLevel(t *testing.T) {
	cfg, _ := testConfig(t)
	key, _ := fcrypto.GenerateKey()
	root, err := identity.NewRootCA("Org1", "ca", key, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Orgs = append(cfg.Orgs, &foliov1.OrgConfig{Name: "Org1", MspId: "Org1MSP", Kind: foliov1.OrgKind_ORG_KIND_PEER, RootCerts: [][]byte{fcrypto.EncodeCertificatePEM(root.Raw)}})
	tlsKey, _ := fcrypto.GenerateKey()
	legacy, err := identity.Issue(root, key, identity.LeafRequest{Name: "ca.org1", Role: identity.RoleAdmin, PublicKey: tlsKey.Public(), TLS: true, DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	for level, refused := range map[uint32]bool{CapabilityV2: false, CapabilityV3: true} {
		cfg.Capability = level
		c, err := NewConfig(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.MSP().Validate("Org1MSP", legacy)
		if got := errors.Is(err, identity.ErrServerUsage); got != refused {
			t.Errorf("level %d: the legacy CA TLS certificate as an admin: %v (refusal expected: %v)", level, err, refused)
		}
	}
}
