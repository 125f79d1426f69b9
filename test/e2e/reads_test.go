package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestCurrentReads: a read in another process, at another organisation's
// peer, right after a write, is current when it asks to be: --linearizable
// waits until that peer has every block the orderers had cut, --min-height
// N until it has block N (the block the write printed). A minimum far
// ahead of the chain fails as "behind", with a non-zero exit, after each
// peer of the organisation waited its bound. (Without these, the issue saw
// the old owner in one run out of three.)
func TestCurrentReads(t *testing.T) {
	n := newCopyrightNet(t)
	var reg submitted
	n.json(&reg, "work", "register", "--id", "R-1", "--title", "Read Me", "--author", "Ann Writer", "--hash", "sha256:"+strings.Repeat("ab", 32), "--as", "user1@Org1", "--peer", "peer0.org1")
	if reg.Status != "VALID" {
		t.Fatalf("register: %+v", reg)
	}
	// Transfer back and forth; after each transfer the new owner reads at
	// a peer of its own organisation, which did not take part in the
	// commit-status wait of the writer's process.
	owners := []string{"user1@Org1", "user1@Org2"}
	last := reg.Block
	for i := 0; i < 4; i++ {
		from, to := owners[i%2], owners[(i+1)%2]
		fromOrg, toOrg := strings.ToLower(strings.TrimPrefix(from, "user1@")), strings.ToLower(strings.TrimPrefix(to, "user1@"))
		var tr submitted
		n.json(&tr, "work", "transfer", "--id", "R-1", "--to", to, "--as", from, "--peer", "peer0."+fromOrg)
		if tr.Status != "VALID" || tr.Block <= last {
			t.Fatalf("transfer %d: %+v", i, tr)
		}
		last = tr.Block
		var rec record
		n.json(&rec, "work", "get", "--id", "R-1", "--as", to, "--peer", "peer0."+toOrg, "--linearizable")
		if rec.Owner != to {
			t.Fatalf("transfer %d in block %d: a linearizable read at peer0.%s shows owner %s, want %s", i, tr.Block, toOrg, rec.Owner, to)
		}
		n.json(&rec, "work", "get", "--id", "R-1", "--as", to, "--peer", "peer1."+toOrg, "--min-height", strconv.FormatUint(tr.Block, 10))
		if rec.Owner != to {
			t.Fatalf("transfer %d in block %d: a read at peer1.%s with --min-height %d shows owner %s, want %s", i, tr.Block, toOrg, tr.Block, rec.Owner, to)
		}
	}

	// A block far ahead: each peer of Org2 waits its bound (5s), says it
	// is behind, and the command fails as unavailable.
	far := last + 1000
	r, err := n.run("work", "get", "--id", "R-1", "--as", "user1@Org2", "--min-height", strconv.FormatUint(far, 10), "--json")
	if err == nil || r.code != 69 {
		t.Fatalf("a read of block %d: want exit 69\n%s", far, r)
	}
	for _, w := range []string{"peer0.org2 is behind", "peer1.org2 is behind", fmt.Sprintf("the read needs %d", far+1)} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	var doc struct {
		Error struct {
			Kind    string `json:"kind"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Error.Kind != "unavailable" || !strings.Contains(doc.Error.Message, "behind by") {
		t.Errorf("--json error: %v\n%s", err, r.stdout)
	}
}
