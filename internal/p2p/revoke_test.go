package p2p

import (
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/identity"
)

// TestRevocationClosesLiveSession: a node whose certificate is revoked
// after its session was established loses the session at the next
// revalidation, and cannot establish a new one.
func TestRevocationClosesLiveSession(t *testing.T) {
	c := newConsortium(t, 2)
	a := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), nil, nil)
	bCreds := issue(t, c, 1, "peer0.org2", identity.RolePeer)
	b := startHost(t, c, bCreds, nil, nil)
	must(t, a.AddPeer(b.spec()))
	a.waitUp(t, b)
	if n := a.Revalidate(); n != 0 {
		t.Fatalf("Revalidate closed %d sessions before any revocation", n)
	}

	o := c.orgs[1]
	crl, err := identity.NewCRL(o.org.Root, o.ca.Key(), 2, []identity.Revocation{{Serial: identity.SerialHex(bCreds.Self.Cert.SerialNumber), RevokedAt: time.Now().Add(-time.Second)}}, time.Now())
	must(t, err)
	must(t, c.verifier.UpdateCRL(o.org.MSPID, crl))

	if n := a.Revalidate(); n != 1 {
		t.Fatalf("Revalidate closed %d sessions after peer0.org2's revocation, want 1", n)
	}
	a.waitFor(t, "peer0.org2 down", func(e Event) bool { return e.Kind == EventDown && e.Session.PeerID == b.ID() })
	if v := counterValue(a.metrics.revoked); v != 1 {
		t.Fatalf("folio_p2p_sessions_revoked_total = %v, want 1", v)
	}
	// a keeps wanting the peer and redials; every attempt is refused.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range a.Sessions() {
			if s.PeerID == b.ID() {
				t.Fatalf("a revoked node has a session again: %+v", s)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}
