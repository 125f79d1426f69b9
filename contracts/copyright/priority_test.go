package copyright_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/contract/contracttest"
	"github.com/folio-ledger/folio/contracts/copyright"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

// Issue 19: a content hash registered before is refused by default,
// naming the earlier registration (the priority evidence).
func TestRegisterSameHashRefused(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		first := register(t, b, alice, work("W1", "Ada"))
		want(t, first, 200)
		rec := decode[copyright.Record](t, first)
		dup := work("W2", "Someone")
		dup.ContentHash = rec.ContentHash
		wantError(t, register(t, b, carol, dup), 409, "",
			fmt.Sprintf(`content hash %s is already registered as work "W1": owner alice@Org1, registered by alice@Org1 at %s, block %d`,
				rec.ContentHash, rec.RegisteredAt, first.Block))
		// Upper-case hex is the same hash.
		dup.ContentHash = "sha256:" + strings.ToUpper(rec.ContentHash[7:])
		wantError(t, register(t, b, carol, dup), 409, "", `already registered as work "W1"`)
		if g := get(t, b, "W1"); g.Relation != "" {
			t.Fatalf("original has relation %q", g.Relation)
		}
	})
}

func TestRegisterDerivativeAndDuplicate(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		want(t, register(t, b, alice, work("W1", "Ada")), 200)
		h := hashOf("W1")
		deriv := copyright.RegisterArgs{ID: "W2", Title: "Remix", Author: "Carol", ContentHash: h, Relation: "derivative-of:W1"}
		o := register(t, b, carol, deriv)
		want(t, o, 200)
		if r := decode[copyright.Record](t, o); r.Relation != "derivative-of:W1" || r.Owner != "carol@Org2" {
			t.Fatalf("derivative recorded %+v", r)
		}
		dup := copyright.RegisterArgs{ID: "W3", Title: "Copy", Author: "Bob", ContentHash: h, AllowDuplicate: true}
		want(t, register(t, b, bob, dup), 200)
		if g := get(t, b, "W3"); g.Relation != "duplicate-of:W1" {
			t.Fatalf("duplicate recorded relation %q, want duplicate-of:W1", g.Relation)
		}
		// A derivative with a new hash, and a duplicate of nothing.
		want(t, register(t, b, carol, copyright.RegisterArgs{ID: "W4", Title: "T", Author: "C", ContentHash: hashOf("W4"), Relation: "derivative-of:W2"}), 200)
		o = register(t, b, carol, copyright.RegisterArgs{ID: "W5", Title: "T", Author: "C", ContentHash: hashOf("W5"), AllowDuplicate: true})
		want(t, o, 200)
		if r := decode[copyright.Record](t, o); r.Relation != "" {
			t.Fatalf("first registration of a hash recorded relation %q", r.Relation)
		}
		// A later plain registration still names the original, and counts the others.
		wantError(t, register(t, b, carol, copyright.RegisterArgs{ID: "W6", Title: "T", Author: "C", ContentHash: h}), 409, "",
			`already registered as work "W1" (and 2 later registrations`)
		// Bad relations.
		for _, c := range []struct {
			a        copyright.RegisterArgs
			fragment string
		}{
			{copyright.RegisterArgs{ID: "W7", Title: "T", Author: "C", ContentHash: h, Relation: "derivative-of:W9"}, `work "W9" is not registered`},
			{copyright.RegisterArgs{ID: "W7", Title: "T", Author: "C", ContentHash: h, Relation: "copy-of:W1"}, "is not derivative-of:ID"},
			{copyright.RegisterArgs{ID: "W7", Title: "T", Author: "C", ContentHash: h, Relation: "derivative-of:W 1"}, "may contain only"},
			{copyright.RegisterArgs{ID: "W7", Title: "T", Author: "C", ContentHash: h, Relation: "derivative-of:W7"}, "derivative of itself"},
			{copyright.RegisterArgs{ID: "W7", Title: "T", Author: "C", ContentHash: h, Relation: "derivative-of:W1", AllowDuplicate: true}, "exclude each other"},
		} {
			wantError(t, register(t, b, carol, c.a), 400, "relation", c.fragment)
		}
	})
}

func TestListByHash(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		h := hashOf("W1")
		want(t, register(t, b, alice, work("W1", "Ada")), 200)
		want(t, register(t, b, carol, copyright.RegisterArgs{ID: "W0", Title: "T", Author: "C", ContentHash: h, AllowDuplicate: true}), 200)
		want(t, register(t, b, alice, work("W2", "Ada")), 200)
		list := func(a copyright.ListArgs) outcome {
			return b.call(t, carol, copyright.FnList, jsonArg(t, a), true)
		}
		o := list(copyright.ListArgs{Hash: h})
		want(t, o, 200)
		if got, _ := ids(t, o); strings.Join(got, ",") != "W0,W1" {
			t.Fatalf("list --hash = %v, want W0,W1", got)
		}
		o = list(copyright.ListArgs{Hash: "sha256:" + strings.ToUpper(h[7:]), Owner: "alice@Org1"})
		want(t, o, 200)
		if got, _ := ids(t, o); strings.Join(got, ",") != "W1" {
			t.Fatalf("list --hash --owner = %v, want W1", got)
		}
		o = list(copyright.ListArgs{Hash: hashA})
		want(t, o, 200)
		if got, _ := ids(t, o); len(got) != 0 {
			t.Fatalf("unregistered hash lists %v", got)
		}
		wantError(t, list(copyright.ListArgs{Hash: "sha256:12"}), 400, "hash", "sha256:<64 hex digits>")
	})
}

// Issue 19: `work transfer --to nobody@Nowhere` committed, and the work
// could never be transferred again. Owners must be in an organisation of
// the channel.
func TestOwnerOutsideTheChannelRefused(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		want(t, register(t, b, alice, work("W1", "Ada")), 200)
		wantError(t, transfer(t, b, alice, "W1", "nobody@Nowhere"), 400, "to",
			`to "nobody@Nowhere": organisation Nowhere is not a member of channel testchannel; members: Org1, Org2`)
		wantError(t, transfer(t, b, alice, "W1", "carol@org2"), 400, "to", "(did you mean Org2?)")
		a := work("W2", "Ada")
		a.Owner = "nobody@Nowhere"
		wantError(t, register(t, b, alice, a), 400, "owner", "organisation Nowhere is not a member")
		// Members of either organisation are fine.
		want(t, transfer(t, b, alice, "W1", "carol@Org2"), 200)
		want(t, transfer(t, b, carol, "W1", "bob@Org1"), 200)
	})
}

// A host that does not know the channel's organisations cannot check an
// owner outside the caller's organisation: the call fails (503), it does
// not pass unchecked.
func TestOwnerCheckWithoutOrganisations(t *testing.T) {
	l := contracttest.NewLedger("copyright")
	r := copyright.New()
	reg := func(a copyright.RegisterArgs) contracttest.Result {
		return l.Invoke(r, contracttest.Call{Function: copyright.FnRegister, Creator: alice, Args: jsonArgs(a)})
	}
	if res := reg(work("W1", "Ada")); res.Response.Status != 200 {
		t.Fatal(res.Response.Message)
	}
	a := work("W2", "Ada")
	a.Owner = "carol@Org2"
	res := reg(a)
	if res.Response.Status != 503 || !strings.Contains(res.Response.Message, "unavailable") || len(res.Writes) != 0 {
		t.Fatalf("register for another organisation without the channel's organisations: %d %q, writes %v", res.Response.Status, res.Response.Message, res.Writes)
	}
}

// Two registrations of one content hash simulated at the same height both
// succeed at their endorsers; the hash index scan in each read set makes
// the one ordered second a phantom read at validation, so priority is the
// block order, the same on every peer. Checked on the VM's read set.
func TestSameHashRaceIsAReadConflict(t *testing.T) {
	if testing.Short() {
		t.Skip("wasm backend skipped in -short mode")
	}
	h := vmtest.Shared(t, "copyright", vmtest.BuildWasm(t, wasmPkg))
	call := func(id, tx string) abi.Call {
		return abi.Call{TxID: tx, Timestamp: epoch, ChannelID: "testchannel", Function: copyright.FnRegister,
			Args: jsonArgs(copyright.RegisterArgs{ID: id, Title: "T", Author: "A", ContentHash: hashA}), Creator: alice}
	}
	first, err := h.Invoke(call("W1", "aa"))
	if err != nil || first.Response.Status != 200 {
		t.Fatalf("first: %v %+v", err, first)
	}
	second, err := h.Invoke(call("W2", "bb"))
	if err != nil || second.Response.Status != 200 {
		t.Fatalf("second: %v %+v", err, second)
	}
	prefix := "\x00hash~id\x00" + hashA + "\x00"
	var scanned bool
	for _, ns := range second.RWSet.NsRwsets {
		for _, rr := range ns.RangeReads {
			if strings.HasPrefix(rr.StartKey, prefix) && rr.Exhausted && len(rr.Reads) == 0 {
				scanned = true
			}
		}
	}
	if !scanned {
		t.Fatalf("the second registration's read set has no empty scan of the hash index: %v", second.RWSet)
	}
	if _, err := h.State.Commit(first.RWSet, "aa", epoch); err != nil {
		t.Fatal(err)
	}
	// Validation re-runs the scan: it now finds the first registration.
	kvs, _, err := h.State.Range("copyright", prefix, prefix+"\U0010ffff", 10)
	if err != nil || len(kvs) != 1 {
		t.Fatalf("hash index after the first commit: %v %v", kvs, err)
	}
}
