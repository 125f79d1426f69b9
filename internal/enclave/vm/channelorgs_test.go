package vm_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

// TestChannelOrgsFollowTheConfigInForce: channel_orgs answers the genesis
// organisations until a config update is recorded in state, then that
// update's member organisations (an organisation added online can receive
// a work; one removed cannot).
func TestChannelOrgsFollowTheConfigInForce(t *testing.T) {
	ctx := context.Background()
	copyright := vmtest.BuildWasm(t, "github.com/folio-ledger/folio/contracts/copyright/cmd/copyright")
	rt := newRuntime(t, vm.Options{ChannelOrgs: vmtest.SharedOrgs})
	m, err := rt.Load(ctx, "copyright", "1", copyright)
	if err != nil {
		t.Fatal(err)
	}
	st := vmtest.NewMemState()
	st.Put("copyright", "\x00work\x00W1\x00", []byte(`{"id":"W1","title":"T","author":"A","owner":"alice@Org1","type":"text","content_hash":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","registered_at":"2025-01-01T00:00:00Z","registered_by":"alice@Org1","action":"register","updated_by":"alice@Org1","updated_at":"2025-01-01T00:00:00Z"}`), 4, 1)
	st.Put("copyright", "\x00owner~id\x00alice@Org1\x00W1\x00", []byte{0}, 4, 1)
	transfer := call("transfer", `{"id":"W1","to":"carol@Org3"}`)

	res, err := rt.Invoke(ctx, m, transfer, st)
	if err != nil {
		t.Fatal(err)
	}
	if res.Response.Status != 400 || !strings.Contains(res.Response.Message, "not a member") {
		t.Fatalf("a transfer to an organisation the genesis lacks: %d %s", res.Response.Status, res.Response.Message)
	}

	update := func(orgs ...string) []byte {
		cfg := &foliov1.ChannelConfig{ChannelId: "ch1", Capability: channel.CapabilityV4, Orgs: []*foliov1.OrgConfig{{Name: "OrdererOrg", Kind: foliov1.OrgKind_ORG_KIND_ORDERER}}}
		for _, o := range orgs {
			cfg.Orgs = append(cfg.Orgs, &foliov1.OrgConfig{Name: o, Kind: foliov1.OrgKind_ORG_KIND_PEER})
		}
		raw, err := proto.Marshal(&foliov1.ConfigUpdate{ChannelId: "ch1", Sequence: 1, Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	st.Put(channel.Namespace, channel.UpdateKey, update("Org1", "Org2", "Org3"), 9, 0)
	if res, err = rt.Invoke(ctx, m, transfer, st); err != nil {
		t.Fatal(err)
	}
	if res.Response.Status != 200 {
		t.Fatalf("a transfer to an organisation a config update added: %d %s", res.Response.Status, res.Response.Message)
	}
	// The configuration's version is in the read set, so a membership
	// change before commit conflicts.
	if v := configReadOf(res.Action().GetRwset()); v == nil || v.BlockNum != 9 {
		t.Fatalf("read set of the transfer lacks the configuration read at block 9: %v", res.Action().GetRwset())
	}

	st.Put(channel.Namespace, channel.UpdateKey, update("Org1", "Org3"), 12, 0)
	toOrg2 := call("transfer", `{"id":"W1","to":"bob@Org2"}`)
	if res, err = rt.Invoke(ctx, m, toOrg2, st); err != nil {
		t.Fatal(err)
	}
	if res.Response.Status != 400 || !strings.Contains(res.Response.Message, "Org1, Org3") {
		t.Fatalf("a transfer to an organisation a config update removed: %d %s", res.Response.Status, res.Response.Message)
	}
}

func configReadOf(rw *foliov1.ReadWriteSet) *foliov1.Version {
	for _, ns := range rw.GetNsRwsets() {
		if ns.Namespace == channel.Namespace && len(ns.Reads) == 1 && ns.Reads[0].Key == channel.UpdateKey {
			return ns.Reads[0].Version
		}
	}
	return nil
}

// TestChannelOrgsBelowLevel4RecordNothing: below capability level 4 the
// organisations cannot change, so channel_orgs answers without a read-set
// entry (validation at those levels refuses one), even when a config
// update (a revocation list) is recorded.
func TestChannelOrgsBelowLevel4RecordNothing(t *testing.T) {
	ctx := context.Background()
	copyright := vmtest.BuildWasm(t, "github.com/folio-ledger/folio/contracts/copyright/cmd/copyright")
	rt := newRuntime(t, vm.Options{ChannelOrgs: vmtest.SharedOrgs})
	m, err := rt.Load(ctx, "copyright", "1", copyright)
	if err != nil {
		t.Fatal(err)
	}
	st := vmtest.NewMemState()
	st.Put("copyright", "\x00work\x00W1\x00", []byte(`{"id":"W1","title":"T","author":"A","owner":"alice@Org1","type":"text","content_hash":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","registered_at":"2025-01-01T00:00:00Z","registered_by":"alice@Org1","action":"register","updated_by":"alice@Org1","updated_at":"2025-01-01T00:00:00Z"}`), 4, 1)
	st.Put("copyright", "\x00owner~id\x00alice@Org1\x00W1\x00", []byte{0}, 4, 1)
	raw, _ := proto.Marshal(&foliov1.ConfigUpdate{ChannelId: "ch1", Sequence: 1, Config: &foliov1.ChannelConfig{ChannelId: "ch1", Capability: channel.CapabilityV3,
		Orgs: []*foliov1.OrgConfig{{Name: "Org1"}, {Name: "Org2"}}}})
	st.Put(channel.Namespace, channel.UpdateKey, raw, 7, 0)
	res, err := rt.Invoke(ctx, m, call("transfer", `{"id":"W1","to":"bob@Org2"}`), st)
	if err != nil {
		t.Fatal(err)
	}
	if res.Response.Status != 200 {
		t.Fatalf("transfer: %d %s", res.Response.Status, res.Response.Message)
	}
	if v := configReadOf(res.Action().GetRwset()); v != nil {
		t.Fatalf("level 3 recorded the configuration read: %v", res.Action().GetRwset())
	}
}
