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
		cfg := &foliov1.ChannelConfig{ChannelId: "ch1", Orgs: []*foliov1.OrgConfig{{Name: "OrdererOrg", Kind: foliov1.OrgKind_ORG_KIND_ORDERER}}}
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

	st.Put(channel.Namespace, channel.UpdateKey, update("Org1", "Org3"), 12, 0)
	toOrg2 := call("transfer", `{"id":"W1","to":"bob@Org2"}`)
	if res, err = rt.Invoke(ctx, m, toOrg2, st); err != nil {
		t.Fatal(err)
	}
	if res.Response.Status != 400 || !strings.Contains(res.Response.Message, "Org1, Org3") {
		t.Fatalf("a transfer to an organisation a config update removed: %d %s", res.Response.Status, res.Response.Message)
	}
}
