package e2e

import (
	"strings"
	"testing"
)

// TestContractRows checks two rows of issue 19 on a real network:
// a transfer to an organisation outside the consortium is refused (it
// used to commit VALID and strand the work), and a content hash registered
// before is refused by default, naming the earlier registration, unless
// the registration says it is a derivative or a deliberate duplicate;
// `work list --hash` lists every registration of the hash.
func TestContractRows(t *testing.T) {
	n := newCopyrightNet(t)
	hash := "sha256:" + strings.Repeat("5c", 32)
	var reg submitted
	n.json(&reg, "work", "register", "--id", "ROW-1", "--title", "Original", "--author", "Ada", "--hash", hash)
	if reg.Status != "VALID" {
		t.Fatalf("register: %+v", reg)
	}

	// Row: transfer to nobody@Nowhere.
	r, err := n.run("work", "transfer", "--id", "ROW-1", "--to", "nobody@Nowhere")
	if err == nil || r.code != 3 || !strings.Contains(r.stderr, "organisation Nowhere is not a member") {
		t.Fatalf("transfer to an unknown organisation: want exit 3 naming the organisation\n%s", r)
	}
	// The ordering service's organisation runs orderers and holds no
	// works: it is not a member either.
	r, err = n.run("work", "transfer", "--id", "ROW-1", "--to", "admin@OrdererOrg")
	if err == nil || r.code != 3 || !strings.Contains(r.stderr, "organisation OrdererOrg is not a member") {
		t.Fatalf("transfer to the ordering organisation: want exit 3 naming it\n%s", r)
	}
	r, err = n.run("work", "register", "--id", "ROW-X", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("5d", 32), "--owner", "eve@Org3")
	if err == nil || r.code != 3 || !strings.Contains(r.stderr, "organisation Org3 is not a member") {
		t.Fatalf("register for an unknown organisation: want exit 3\n%s", r)
	}
	var w struct {
		Owner string `json:"owner"`
	}
	n.json(&w, "work", "get", "--id", "ROW-1")
	if w.Owner != "user1@Org1" {
		t.Fatalf("owner after refused transfer: %q", w.Owner)
	}

	// Row: the same content hash under another ID, by someone else.
	r, err = n.run("work", "register", "--id", "ROW-2", "--title", "Copy", "--author", "Eve", "--hash", hash, "--as", "user1@Org2")
	if err == nil || r.code != 3 {
		t.Fatalf("second registration of a content hash: want exit 3\n%s", r)
	}
	for _, word := range []string{`work "ROW-1"`, "owner user1@Org1", "registered by user1@Org1", "block", "--derivative-of", "--duplicate"} {
		if !strings.Contains(r.stderr, word) {
			t.Errorf("refusal does not mention %q:\n%s", word, r.stderr)
		}
	}
	n.must("work", "register", "--id", "ROW-2", "--title", "Remix", "--author", "Eve", "--hash", hash, "--as", "user1@Org2", "--derivative-of", "ROW-1")
	n.must("work", "register", "--id", "ROW-3", "--title", "Copy", "--author", "Eve", "--hash", hash, "--as", "user1@Org2", "--duplicate")
	var ls struct {
		Works []struct {
			ID       string `json:"id"`
			Relation string `json:"relation"`
		} `json:"works"`
	}
	n.json(&ls, "work", "list", "--hash", hash)
	var got []string
	for _, x := range ls.Works {
		got = append(got, x.ID+"="+x.Relation)
	}
	if want := "ROW-1=,ROW-2=derivative-of:ROW-1,ROW-3=duplicate-of:ROW-1"; strings.Join(got, ",") != want {
		t.Fatalf("work list --hash: %v, want %s", got, want)
	}
}
