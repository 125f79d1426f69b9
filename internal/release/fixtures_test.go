package release

import (
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// Fixtures of the role tests: a release record whose key servers are
// real signing identities, with its shares, and an env without a
// network (roles that call peers are tested in process, release_test).

var tT = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// keyFixture is a record with n key servers, t of them needed.
type keyFixture struct {
	rec     release.Record
	shares  [][]byte
	signers []*identity.SigningIdentity
}

func newKeyFixture(t *testing.T, n, threshold int) *keyFixture {
	t.Helper()
	caKey, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := identity.NewRootCA("Org1", "ca.org1", caKey, time.Now().Add(-time.Hour), identity.DefaultRootValidity)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.NewContentKey()
	if err != nil {
		t.Fatal(err)
	}
	shares, err := keys.SplitKey(key, n, threshold)
	if err != nil {
		t.Fatal(err)
	}
	rid := release.ReleaseID("W1", "alice@Org1")
	f := &keyFixture{shares: shares, rec: release.Record{ID: rid, Work: "W1", Owner: "alice@Org1", Threshold: threshold,
		ReleaseAt: tT.Format(time.RFC3339Nano), EndAt: tT.Add(time.Minute).Format(time.RFC3339Nano), Size: 1000, CipherSize: 1016, Chunks: 1,
		KeyCommit: hex.EncodeToString(release.KeyCommitment(rid, key))}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("peer0.org%d", i)
		k, err := fcrypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		cert, err := identity.Issue(root, caKey, identity.LeafRequest{Name: name, Role: identity.RolePeer, PublicKey: k.Public(), NotBefore: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		si, err := identity.NewSigningIdentity(identity.Identity{MSPID: "Org1MSP", Org: "Org1", Name: name, Role: identity.RolePeer, Cert: cert}, k)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := k.Public().(*ecdsa.PublicKey).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		f.signers = append(f.signers, si)
		f.rec.KeyServers = append(f.rec.KeyServers, release.KeyServer{Index: i, Name: name, Org: "Org1", NodeID: si.ID(),
			NodeKey: hex.EncodeToString(pub), ShareCommit: hex.EncodeToString(release.ShareCommitment(rid, i, shares[i-1]))})
	}
	return f
}

// statement is key server i's signed release of its share at sentAt.
func (f *keyFixture) statement(t *testing.T, i int, sentAt time.Time) wire.ShareMsg {
	t.Helper()
	sr, err := keys.SignShareRelease(f.signers[i-1], f.rec.ID, i, f.shares[i-1], sentAt)
	if err != nil {
		t.Fatal(err)
	}
	pa := sr.PublishArgs(&f.rec)
	return wire.ShareMsg{Index: pa.Index, Share: pa.Share, SentAt: pa.SentAt, NodeID: pa.NodeID, Sig: pa.Sig}
}

// testEnv is an env for roles that keep state but call no peer.
func testEnv(t *testing.T, now func() time.Time) *env {
	t.Helper()
	o := &PeerOptions{Now: now, DataDir: t.TempDir()}
	o.EnsureDefaults()
	h, err := openHistory(filepath.Join(o.DataDir, "clients.json"), o.MaxHistoryClients, o.HistoryTTL, now())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{o: o, log: slog.New(slog.DiscardHandler), history: h}
	e.clock = newClocks(e)
	return e
}

// notified reports whether ch was closed (a change was signalled).
func notified(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
