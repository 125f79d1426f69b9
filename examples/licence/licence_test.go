package licence_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contract/contracttest"
	"github.com/folio-ledger/folio/examples/licence"
)

var (
	alice = contract.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "alice", Role: "client"}
	bob   = contract.Identity{MSPID: "Org2MSP", Org: "Org2", Name: "bob", Role: "client"}
)

func call(t *testing.T, l *contracttest.Ledger, who contract.Identity, fn string, args any) contracttest.Result {
	t.Helper()
	return l.Invoke(licence.New(), contracttest.Call{Function: fn, Creator: who, Args: contracttest.JSONArgs(args)})
}

func TestGrantReadListRevoke(t *testing.T) {
	l := contracttest.NewLedger("licence")
	grant := licence.GrantArgs{ID: "L-1", Work: "W-1", Licensee: "bob@Org2", Territory: "EU", Until: "2030-12-31"}
	if r := call(t, l, alice, licence.FnGrant, grant); r.Response.Status != 200 {
		t.Fatalf("grant: %+v", r.Response)
	}
	if r := call(t, l, bob, licence.FnGrant, grant); r.Response.Status != 409 {
		t.Fatalf("second grant of L-1: %+v", r.Response)
	}
	var got licence.Licence
	if err := call(t, l, bob, licence.FnGet, licence.IDArgs{ID: "L-1"}).JSON(&got); err != nil {
		t.Fatal(err)
	}
	want := licence.Licence{ID: "L-1", Work: "W-1", Licensor: "alice@Org1", Licensee: "bob@Org2", Territory: "EU",
		Until: "2030-12-31", GrantedAt: got.GrantedAt}
	if got != want || got.GrantedAt == "" {
		t.Fatalf("get: %+v, want %+v", got, want)
	}
	call(t, l, alice, licence.FnGrant, licence.GrantArgs{ID: "L-2", Work: "W-1", Licensee: "carol@Org1", Territory: "UK", Until: "2029-01-01"})
	call(t, l, alice, licence.FnGrant, licence.GrantArgs{ID: "L-3", Work: "W-2", Licensee: "carol@Org1", Territory: "UK", Until: "2029-01-01"})
	var list []licence.Licence
	if err := call(t, l, bob, licence.FnByWork, licence.WorkArgs{Work: "W-1"}).JSON(&list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "L-1" || list[1].ID != "L-2" {
		t.Fatalf("by_work W-1: %+v", list)
	}

	r := call(t, l, bob, licence.FnRevoke, licence.IDArgs{ID: "L-1"})
	if r.Response.Status != 403 || !strings.Contains(r.Response.Message, "only the licensor alice@Org1") || len(r.Writes) != 0 {
		t.Fatalf("revoke by the licensee: %+v", r)
	}
	r = call(t, l, alice, licence.FnRevoke, licence.IDArgs{ID: "L-1"})
	if err := r.JSON(&got); err != nil || !got.Revoked {
		t.Fatalf("revoke by the licensor: %+v %v", r.Response, err)
	}
	if r := call(t, l, alice, licence.FnRevoke, licence.IDArgs{ID: "L-1"}); r.Response.Status != 409 {
		t.Fatalf("second revoke: %+v", r.Response)
	}
	if r := call(t, l, alice, licence.FnRevoke, licence.IDArgs{ID: "nope"}); r.Response.Status != 404 {
		t.Fatalf("revoke of a missing licence: %+v", r.Response)
	}
}

func TestGrantRefusesBadInput(t *testing.T) {
	l := contracttest.NewLedger("licence")
	for name, args := range map[string]any{
		"missing work":  licence.GrantArgs{ID: "L", Licensee: "b@O", Territory: "EU", Until: "2030-01-01"},
		"bad date":      licence.GrantArgs{ID: "L", Work: "W", Licensee: "b@O", Territory: "EU", Until: "2030-13-01"},
		"not a date":    licence.GrantArgs{ID: "L", Work: "W", Licensee: "b@O", Territory: "EU", Until: "soon"},
		"unknown field": map[string]string{"id": "L", "colour": "red"},
		"key separator": licence.GrantArgs{ID: "L\x00x", Work: "W", Licensee: "b@O", Territory: "EU", Until: "2030-01-01"},
		"not an object": []int{1, 2},
	} {
		r := call(t, l, alice, licence.FnGrant, args)
		if r.Response.Status != 400 || len(r.Writes) != 0 {
			t.Errorf("%s: %+v", name, r.Response)
		}
	}
	if len(l.Keys()) != 0 {
		t.Fatalf("refused grants wrote %v", l.Keys())
	}
	// Evaluate calls cannot write.
	r := l.Invoke(licence.New(), contracttest.Call{Function: licence.FnGrant, Creator: alice, ReadOnly: true,
		Args: contracttest.JSONArgs(licence.GrantArgs{ID: "L", Work: "W", Licensee: "b@O", Territory: "EU", Until: "2030-01-01"})})
	if r.Response.Status == 200 {
		b, _ := json.Marshal(r)
		t.Fatalf("a read-only grant succeeded: %s", b)
	}
}
