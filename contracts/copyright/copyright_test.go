package copyright_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contracts/copyright"
)

func TestRegisterAndGet(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		o := register(t, b, alice, copyright.RegisterArgs{
			ID: "W1", Title: "Ode to Ledgers", Author: "Ada Lovelace", Type: "text",
			ContentHash: strings.ToUpper(hashA[:7]) + strings.ToUpper(hashA[7:]),
		})
		if o.Status == 200 {
			t.Fatal("upper-case scheme accepted")
		}
		o = register(t, b, alice, copyright.RegisterArgs{
			ID: "W1", Title: "Ode to Ledgers", Author: "Ada Lovelace", Type: "text",
			ContentHash: "sha256:" + strings.ToUpper(hashA[7:]),
		})
		want(t, o, 200)
		if o.Block == 0 {
			t.Fatal("register not committed")
		}
		rec := decode[copyright.Record](t, o)
		regTime := epoch.Add(2 * time.Minute).Format(time.RFC3339Nano)
		wantRec := copyright.Record{
			ID: "W1", Title: "Ode to Ledgers", Author: "Ada Lovelace", Owner: "alice@Org1", Type: "text",
			ContentHash: hashA, RegisteredAt: regTime, RegisteredBy: "alice@Org1",
			Action: "register", UpdatedBy: "alice@Org1", UpdatedAt: regTime,
		}
		if rec != wantRec {
			t.Fatalf("registered %+v\nwant %+v", rec, wantRec)
		}
		if len(o.Writes) != 4 || len(o.Events) != 1 || o.Events[0] != copyright.EventRegistered {
			t.Fatalf("writes %q events %q", o.Writes, o.Events)
		}

		g := b.call(t, carol, copyright.FnGet, jsonArg(t, copyright.IDArgs{ID: "W1"}), true)
		want(t, g, 200)
		w := decode[copyright.Work](t, g)
		if w.Record != wantRec || w.Version == nil || w.Version.Block != o.Block || w.Version.Tx != 0 {
			t.Fatalf("get = %+v version %+v, want block %d", w.Record, w.Version, o.Block)
		}
		// The JSON shape of CLI.md `folio work get --json`.
		var m map[string]any
		if err := json.Unmarshal(g.Payload, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "title", "author", "owner", "type", "content_hash", "registered_at", "version"} {
			if _, ok := m[k]; !ok {
				t.Errorf("get JSON lacks %q: %s", k, g.Payload)
			}
		}
		if v, _ := m["version"].(map[string]any); v == nil || v["block"] == nil || v["tx"] == nil {
			t.Errorf("version is not {block, tx}: %s", g.Payload)
		}
		if len(g.Writes) != 0 || g.Block != 0 {
			t.Errorf("get wrote %v", g.Writes)
		}
	})
}

func TestRegisterDefaultsAndExplicitOwner(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		o := register(t, b, admin1, copyright.RegisterArgs{ID: "W2", Title: "T", Author: "A", Owner: "carol@Org2", ContentHash: hashA})
		want(t, o, 200)
		rec := decode[copyright.Record](t, o)
		if rec.Owner != "carol@Org2" || rec.Type != copyright.DefaultType || rec.RegisteredBy != "admin@Org1" {
			t.Fatalf("record %+v", rec)
		}
	})
}

func TestRegisterDuplicate(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		want(t, register(t, b, alice, work("W1", "Ada")), 200)
		wantError(t, register(t, b, carol, work("W1", "Someone else")), 409, "", `work "W1" is already registered (owner alice@Org1`)
	})
}

func TestRegisterBadInput(t *testing.T) {
	long := strings.Repeat("x", 600)
	cases := []struct {
		name     string
		args     [][]byte
		field    string
		fragment string
	}{
		{"no args", nil, "", "exactly one argument"},
		{"two args", [][]byte{[]byte(`{}`), []byte(`{}`)}, "", "exactly one argument"},
		{"empty arg", [][]byte{{}}, "", "empty"},
		{"not json", [][]byte{[]byte(`id=W1`)}, "", "not valid JSON"},
		{"truncated json", [][]byte{[]byte(`{"id":"W1"`)}, "", "not valid JSON"},
		{"trailing data", [][]byte{[]byte(`{"id":"W1"} {}`)}, "", "unexpected data"},
		{"array", [][]byte{[]byte(`["W1"]`)}, "", "JSON object"},
		{"id not string", [][]byte{[]byte(`{"id":5,"title":"T","author":"A","content_hash":"` + hashA + `"}`)}, "id", `field "id" must be a string`},
		{"unknown field", [][]byte{[]byte(`{"id":"W1","titel":"T"}`)}, "titel", `unknown field "titel"`},
		{"missing id", jsonArgs(copyright.RegisterArgs{Title: "T", Author: "A", ContentHash: hashA}), "id", "id is required"},
		{"bad id", jsonArgs(copyright.RegisterArgs{ID: "W 1", Title: "T", Author: "A", ContentHash: hashA}), "id", "may contain only"},
		{"id with NUL", jsonArgs(copyright.RegisterArgs{ID: "W\x001", Title: "T", Author: "A", ContentHash: hashA}), "id", "may contain only"},
		{"long id", jsonArgs(copyright.RegisterArgs{ID: strings.Repeat("W", 129), Title: "T", Author: "A", ContentHash: hashA}), "id", "at most 128"},
		{"missing title", jsonArgs(copyright.RegisterArgs{ID: "W1", Author: "A", ContentHash: hashA}), "title", "title is required"},
		{"blank title", jsonArgs(copyright.RegisterArgs{ID: "W1", Title: "  ", Author: "A", ContentHash: hashA}), "title", "title is required"},
		{"long title", jsonArgs(copyright.RegisterArgs{ID: "W1", Title: long, Author: "A", ContentHash: hashA}), "title", "at most 512"},
		{"missing author", jsonArgs(copyright.RegisterArgs{ID: "W1", Title: "T", ContentHash: hashA}), "author", "author is required"},
		{"author control char", jsonArgs(copyright.RegisterArgs{ID: "W1", Title: "T", Author: "A\x00B", ContentHash: hashA}), "author", "control"},
		{"missing hash", jsonArgs(copyright.RegisterArgs{ID: "W1", Title: "T", Author: "A"}), "content_hash", "content_hash is required"},
		{"bad hash", jsonArgs(copyright.RegisterArgs{ID: "W1", Title: "T", Author: "A", ContentHash: "md5:abc"}), "content_hash", "sha256:<64 hex digits>"},
		{"short hash", jsonArgs(copyright.RegisterArgs{ID: "W1", Title: "T", Author: "A", ContentHash: hashA[:70]}), "content_hash", "sha256:<64 hex digits>"},
		{"bad type", jsonArgs(copyright.RegisterArgs{ID: "W1", Title: "T", Author: "A", Type: "poem", ContentHash: hashA}), "type", `type "poem" is not one of text, image, audio, video, software, other`},
		{"bad owner", jsonArgs(copyright.RegisterArgs{ID: "W1", Title: "T", Author: "A", Owner: "alice", ContentHash: hashA}), "owner", "user@Org"},
	}
	forBackends(t, func(t *testing.T, b backend) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, b.call(t, alice, copyright.FnRegister, c.args, false), 400, c.field, c.fragment)
			})
		}
	})
}

func jsonArgs(v any) [][]byte {
	b, _ := json.Marshal(v)
	return [][]byte{b}
}

func TestRegisterReadOnly(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		o := b.call(t, alice, copyright.FnRegister, jsonArgs(work("W1", "A")), true)
		want(t, o, 400)
		if !strings.Contains(o.Message, "read-only") {
			t.Fatalf("message %q", o.Message)
		}
	})
}

func TestRegisterWithoutCallerName(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		wantError(t, register(t, b, contract.Identity{}, work("W1", "A")), 403, "", "no name or organisation")
	})
}

func TestGetErrors(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		wantError(t, b.call(t, alice, copyright.FnGet, jsonArgs(copyright.IDArgs{ID: "nope"}), true), 404, "", `work "nope" is not registered`)
		wantError(t, b.call(t, alice, copyright.FnGet, jsonArgs(copyright.IDArgs{}), true), 400, "id", "id is required")
		wantError(t, b.call(t, alice, copyright.FnGet, [][]byte{[]byte(`{"id":["W1"]}`)}, true), 400, "id", "must be a string")
	})
}

func TestUnknownFunction(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		wantError(t, b.call(t, alice, "delete", nil, false), 400, "function", `unknown function "delete" (this contract has: get, history, list, register, transfer)`)
	})
}

func transfer(t *testing.T, b backend, who contract.Identity, id, to string) outcome {
	t.Helper()
	return b.call(t, who, copyright.FnTransfer, jsonArgs(copyright.TransferArgs{ID: id, To: to}), false)
}

func get(t *testing.T, b backend, id string) copyright.Work {
	t.Helper()
	o := b.call(t, alice, copyright.FnGet, jsonArgs(copyright.IDArgs{ID: id}), true)
	want(t, o, 200)
	return decode[copyright.Work](t, o)
}

func TestTransferByOwner(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		reg := register(t, b, alice, work("W1", "Ada"))
		want(t, reg, 200)
		o := transfer(t, b, alice, "W1", "carol@Org2")
		want(t, o, 200)
		if !reflect.DeepEqual(o.Events, []string{copyright.EventTransferred}) {
			t.Fatalf("events %v", o.Events)
		}
		w := get(t, b, "W1")
		if w.Owner != "carol@Org2" || w.Action != "transfer" || w.UpdatedBy != "alice@Org1" || w.RegisteredBy != "alice@Org1" {
			t.Fatalf("after transfer: %+v", w.Record)
		}
		if w.Version.Block != o.Block || w.Version.Block <= reg.Block {
			t.Fatalf("version %+v did not advance to block %d", w.Version, o.Block)
		}
	})
}

func TestTransferByAdminOfOwnersOrg(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		want(t, register(t, b, alice, work("W1", "Ada")), 200)
		want(t, transfer(t, b, admin1, "W1", "bob@Org1"), 200)
		if w := get(t, b, "W1"); w.Owner != "bob@Org1" || w.UpdatedBy != "admin@Org1" {
			t.Fatalf("after admin transfer: %+v", w.Record)
		}
	})
}

func TestTransferRefused(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		want(t, register(t, b, alice, work("W1", "Ada")), 200)
		before := get(t, b, "W1")
		// Another user of the owner's organisation.
		wantError(t, transfer(t, b, bob, "W1", "bob@Org1"), 403, "",
			`bob@Org1 may not transfer work "W1": only its owner alice@Org1 or an admin of Org1 may`)
		// An admin of another organisation.
		wantError(t, transfer(t, b, admin2, "W1", "carol@Org2"), 403, "", "admin@Org2 may not transfer")
		// A user of another organisation.
		wantError(t, transfer(t, b, carol, "W1", "carol@Org2"), 403, "", "carol@Org2 may not transfer")
		if after := get(t, b, "W1"); !reflect.DeepEqual(after, before) {
			t.Fatalf("refused transfers changed the work: %+v -> %+v", before, after)
		}
	})
}

func TestTransferErrors(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		want(t, register(t, b, alice, work("W1", "Ada")), 200)
		wantError(t, transfer(t, b, alice, "W9", "bob@Org1"), 404, "", `work "W9" is not registered`)
		wantError(t, transfer(t, b, alice, "W1", "alice@Org1"), 409, "", "already owned by alice@Org1")
		wantError(t, transfer(t, b, alice, "W1", "bob"), 400, "to", "user@Org")
		wantError(t, transfer(t, b, alice, "W1", ""), 400, "to", "to is required")
		wantError(t, transfer(t, b, alice, "", "bob@Org1"), 400, "id", "id is required")
		wantError(t, b.call(t, alice, copyright.FnTransfer, [][]byte{[]byte(`{"id":"W1","to":"bob@Org1","owner":"x"}`)}, false), 400, "owner", `unknown field "owner"`)
	})
}

func TestHistory(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		reg := register(t, b, alice, work("W1", "Ada"))
		t1 := transfer(t, b, alice, "W1", "bob@Org1")
		t2 := transfer(t, b, admin1, "W1", "carol@Org2")
		for _, o := range []outcome{reg, t1, t2} {
			want(t, o, 200)
		}
		o := b.call(t, carol, copyright.FnHistory, jsonArgs(copyright.IDArgs{ID: "W1"}), true)
		want(t, o, 200)
		h := decode[copyright.HistoryResult](t, o)
		if h.ID != "W1" || len(h.Entries) != 3 {
			t.Fatalf("history %+v", h)
		}
		wantEntries := []struct {
			o                      outcome
			creator, action, owner string
		}{
			{reg, "alice@Org1", "register", "alice@Org1"},
			{t1, "alice@Org1", "transfer", "bob@Org1"},
			{t2, "admin@Org1", "transfer", "carol@Org2"},
		}
		for i, w := range wantEntries {
			e := h.Entries[i]
			if e.TxID != w.o.TxID || e.Block != w.o.Block || e.Creator != w.creator || e.Action != w.action || e.Owner != w.owner {
				t.Errorf("entry %d = %+v, want tx %s block %d %s %s %s", i, e, w.o.TxID, w.o.Block, w.creator, w.action, w.owner)
			}
			if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
				t.Errorf("entry %d timestamp %q: %v", i, e.Timestamp, err)
			}
		}
		if !(h.Entries[0].Timestamp < h.Entries[1].Timestamp && h.Entries[1].Timestamp < h.Entries[2].Timestamp) {
			t.Errorf("history not oldest first: %+v", h.Entries)
		}
		// The JSON shape of CLI.md `folio work history --json`.
		var m struct {
			ID      string           `json:"id"`
			Entries []map[string]any `json:"entries"`
		}
		if err := json.Unmarshal(o.Payload, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"tx_id", "block", "timestamp", "creator", "action", "owner"} {
			if _, ok := m.Entries[0][k]; !ok {
				t.Errorf("history entry lacks %q: %s", k, o.Payload)
			}
		}
		wantError(t, b.call(t, carol, copyright.FnHistory, jsonArgs(copyright.IDArgs{ID: "W2"}), true), 404, "", `work "W2" is not registered`)
	})
}

func ids(t *testing.T, o outcome) ([]string, bool) {
	t.Helper()
	want(t, o, 200)
	r := decode[copyright.ListResult](t, o)
	out := []string{}
	for _, w := range r.Works {
		if w.Version == nil || w.Version.Block == 0 {
			t.Errorf("listed work %s without version", w.ID)
		}
		out = append(out, w.ID)
	}
	return out, r.More
}

func TestList(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		want(t, register(t, b, alice, work("W3", "Ada")), 200)
		want(t, register(t, b, alice, work("W1", "Grace")), 200)
		want(t, register(t, b, carol, work("W2", "Ada")), 200)
		want(t, register(t, b, carol, work("W4", "Ada Lovelace")), 200)
		want(t, transfer(t, b, alice, "W3", "carol@Org2"), 200)

		list := func(a copyright.ListArgs) outcome {
			return b.call(t, bob, copyright.FnList, jsonArgs(a), true)
		}
		check := func(name string, o outcome, wantIDs []string, wantMore bool) {
			t.Helper()
			got, more := ids(t, o)
			if !reflect.DeepEqual(got, wantIDs) || more != wantMore {
				t.Errorf("%s: %v more=%v, want %v more=%v", name, got, more, wantIDs, wantMore)
			}
		}
		check("by owner alice", list(copyright.ListArgs{Owner: "alice@Org1"}), []string{"W1"}, false)
		check("by owner carol", list(copyright.ListArgs{Owner: "carol@Org2"}), []string{"W2", "W3", "W4"}, false)
		check("by author Ada", list(copyright.ListArgs{Author: "Ada"}), []string{"W2", "W3"}, false)
		check("by owner and author", list(copyright.ListArgs{Owner: "carol@Org2", Author: "Ada"}), []string{"W2", "W3"}, false)
		check("all", b.call(t, bob, copyright.FnList, nil, true), []string{"W1", "W2", "W3", "W4"}, false)
		check("limit", list(copyright.ListArgs{Owner: "carol@Org2", Limit: 2}), []string{"W2", "W3"}, true)
		check("limit exact", list(copyright.ListArgs{Owner: "carol@Org2", Limit: 3}), []string{"W2", "W3", "W4"}, false)
		check("nobody", list(copyright.ListArgs{Owner: "dave@Org3"}), []string{}, false)

		o := list(copyright.ListArgs{Author: "Grace"})
		if !bytes.Contains(o.Payload, []byte(`"works":[{"id":"W1"`)) {
			t.Errorf("list JSON shape: %s", o.Payload)
		}
		wantError(t, list(copyright.ListArgs{Limit: 1001}), 400, "limit", "1..1000")
		wantError(t, list(copyright.ListArgs{Limit: -1}), 400, "limit", "1..1000")
		wantError(t, list(copyright.ListArgs{Owner: "nobody"}), 400, "owner", "user@Org")
		wantError(t, b.call(t, bob, copyright.FnList, [][]byte{[]byte(`{"limit":"ten"}`)}, true), 400, "limit", "must be an integer")
	})
}

// TestBackendsAgree runs one script on both backends and requires equal
// outcomes byte for byte: contracttest behaves like the VM.
func TestBackendsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the wasm build")
	}
	script := func(t *testing.T, b backend) []outcome {
		var out []outcome
		add := func(o outcome) { out = append(out, o) }
		add(register(t, b, alice, work("W1", "Ada")))
		add(register(t, b, alice, work("W2", "Ada")))
		add(register(t, b, alice, work("W1", "Ada")))
		add(transfer(t, b, bob, "W1", "bob@Org1"))
		add(transfer(t, b, admin1, "W1", "bob@Org1"))
		add(transfer(t, b, bob, "W1", "carol@Org2"))
		add(b.call(t, carol, copyright.FnGet, jsonArgs(copyright.IDArgs{ID: "W1"}), true))
		add(b.call(t, carol, copyright.FnHistory, jsonArgs(copyright.IDArgs{ID: "W1"}), true))
		add(b.call(t, carol, copyright.FnList, jsonArgs(copyright.ListArgs{Author: "Ada"}), true))
		add(b.call(t, carol, copyright.FnList, nil, true))
		add(b.call(t, carol, copyright.FnRegister, [][]byte{[]byte(`{"id":7}`)}, false))
		add(b.call(t, carol, "nope", nil, false))
		return out
	}
	native := script(t, newNative())
	wasm := script(t, newWasm(t))
	for i := range native {
		if !reflect.DeepEqual(native[i], wasm[i]) {
			t.Errorf("step %d differs:\nnative %+v\n  %s\nwasm   %+v\n  %s", i, native[i], native[i].Payload, wasm[i], wasm[i].Payload)
		}
	}
}
