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

	must(t, c.Revoke(1, bCreds.Self.Cert))
	if n := a.Revalidate(); n != 1 {
		t.Fatalf("Revalidate closed %d sessions after peer0.org2's revocation, want 1", n)
	}
	a.waitFor(t, "peer0.org2 down", func(e Event) bool { return e.Kind == EventDown && e.Session.PeerID == b.ID() })
	if v := counterValue(a.metrics.revoked); v != 1 {
		t.Fatalf("folio_p2p_sessions_revoked_total = %v, want 1", v)
	}
	// a keeps wanting the peer and redials; every attempt is refused. Three
	// refusals (by either end) show the redial loop ran into the CRL each
	// time rather than a session coming up between attempts.
	refusals := func() float64 { return a.failures("not_member") + b.failures("not_member") }
	eventually(t, "three refused redials of the revoked node", 30*time.Second, func() bool {
		if len(a.sessionsWith(b)) != 0 {
			t.Fatalf("a revoked node has a session again: %+v", a.sessionsWith(b))
		}
		return refusals() >= 3
	})
	if len(a.sessionsWith(b)) != 0 {
		t.Fatalf("a revoked node has a session again: %+v", a.sessionsWith(b))
	}
}
