package evidence_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/evidence"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// revocationTx is Org1's admin installing a revocation list (revoking
// revoked) as config update sequence seq on top of the genesis
// configuration.
func (w *world) revocationTx(seq uint64, revoked ...*identity.SigningIdentity) tx {
	w.t.Helper()
	var rs []identity.Revocation
	for _, r := range revoked {
		rs = append(rs, identity.Revocation{Serial: identity.SerialHex(r.Cert.SerialNumber), RevokedAt: time.Unix(1700000000, 0)})
	}
	crl, err := identity.NewCRL(w.org1.CA.Cert, w.org1.CA.Key(), int64(seq), rs, time.Unix(1700000000, 0))
	if err != nil {
		w.t.Fatal(err)
	}
	cur, err := channel.FromGenesis(w.genesis)
	if err != nil {
		w.t.Fatal(err)
	}
	next := proto.Clone(cur).(*foliov1.ChannelConfig)
	for _, o := range next.Orgs {
		if o.Name == "Org1" {
			o.Crl = crl
		}
	}
	u := client.NewConfigUpdate(&foliov1.ChannelConfigInfo{Config: cur, Height: w.prev.Header.Number + 1}, next, 100)
	env, id, err := types.NewConfigEnvelope(w.org1.Member(w.t, "admin", identity.RoleAdmin), u, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		w.t.Fatal(err)
	}
	var ut foliov1.ConfigUpdateTx
	var p foliov1.Payload
	if err := proto.Unmarshal(env.Payload, &p); err != nil {
		w.t.Fatal(err)
	}
	if err := proto.Unmarshal(p.Data, &ut); err != nil {
		w.t.Fatal(err)
	}
	return tx{id: id, env: raw, ns: channel.Namespace, writes: []*foliov1.KVWrite{{Key: channel.UpdateKey, Value: ut.Update}}}
}

// The configuration comes from the chain: a config update committed
// before the proven block (Org1 revoking mallory) is applied with the
// chain's rules, and dropping it from the bundle is caught, so a verifier
// never judges identities under a configuration the chain left behind.
func TestConfigUpdatesAreFollowed(t *testing.T) {
	w := newWorld(t)
	mallory := w.org1.Member(t, "mallory", identity.RoleClient)
	w.block(w.endorsedTx(w.alice, "register", workKey, record(t, "alice@Org1"), absent, w.peer1, w.peer2))
	w.block(w.revocationTx(1, mallory))
	w.block(w.endorsedTx(w.alice, "transfer", workKey, record(t, "bob@Org2"), &foliov1.Version{BlockNum: 1}, w.peer1, w.peer2))
	resp := w.prove(workKey)
	if len(resp.ConfigUpdates) != 1 {
		t.Fatalf("%d config updates proven, want 1", len(resp.ConfigUpdates))
	}
	data := buildFrom(t, resp)
	rep, err := evidence.Verify(data, w.anchor())
	if err != nil {
		t.Fatalf("honest bundle with a config update: %v", err)
	}
	if i := slices.IndexFunc(rep.Checks, func(c evidence.Check) bool { return c.Name == "config[0]" }); i < 0 ||
		!strings.Contains(rep.Checks[i].Detail, "to sequence 1 by admin@Org1 in block 2, in force from block 3") {
		t.Fatalf("config checks: %+v", rep.Checks)
	}

	dropped := proto.Clone(resp).(*foliov1.ProveResponse)
	dropped.ConfigUpdates = nil
	mustFail(t, buildFrom(t, dropped), w.anchor(), "config", "updates are missing")

	// The update shown twice, as if replayed.
	replayed := proto.Clone(resp).(*foliov1.ProveResponse)
	replayed.ConfigUpdates = append(replayed.ConfigUpdates, replayed.ConfigUpdates[0])
	mustFail(t, buildFrom(t, replayed), w.anchor(), "config[1]", "not in commit order")
}
