package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/evidence"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// TestDivergence is the issue "One truth on every peer": a peer whose
// state root differs from the signed roots of every other peer marks
// itself diverged within a bounded time, refuses to endorse (a
// registration through it fails over to the other peer of its
// organisation, and fails with the rebuild instruction when there is
// none), says so in `network status` (table and JSON) and in its
// metrics; `folio peer rebuild` moves its ledger aside, replays the chain
// and brings it back: health ok, the same state root as the others at
// every height, endorsing again. Last, one stopped peer's last block is
// replaced by another one signed with an orderer's key (an equivocating
// orderer): that peer, and the peers that ask it about that height, judge
// "equivocation", raise an alarm and stop endorsing and committing.
func TestDivergence(t *testing.T) {
	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	n := newCopyrightNet(t)
	phase("network up")
	s := newSDK(t, n)
	peers := s.peers()
	const bad, mate = "peer1.org1", "peer0.org1" // mate: the other peer of its organisation
	quietHeight(t, s)
	var reg submitted
	n.json(&reg, "work", "register", "--id", "DIV-1", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("d", 64))
	s.waitHeight(reg.Block, 30*time.Second)
	eventually(t, 30*time.Second, "every signed state root agrees", func() error { return rootsAgree(rootStatus(n), peers) })
	for _, p := range peers {
		if st := rootStatus(n)[p.Name]; st.Health != evidence.HealthOK || st.HealthDetail != "" {
			t.Fatalf("%s: health %q %q on a healthy network", p.Name, st.Health, st.HealthDetail)
		}
	}

	phase("healthy network checked")
	// The peer's ledger forgets the last block's trie update: from now on
	// every root it computes differs from the others'.
	stopNode(t, n, bad)
	last, was, now := tamperTipRoot(t, filepath.Join(n.dir, "nodes", bad, "data", "db"))
	t.Logf("%s now records root %x after block %d (the others %x)", bad, now, last, was)
	restarted := time.Now()
	n.must("network", "start", bad)

	var st localnet.NodeStatus
	eventually(t, 45*time.Second, bad+" judges itself diverged", func() error {
		all := rootStatus(n)
		st = all[bad]
		if st.Health != evidence.HealthDiverged {
			return fmt.Errorf("%s health %q %s", bad, st.Health, st.HealthDetail)
		}
		for _, p := range peers {
			if p.Name != bad && all[p.Name].Health != evidence.HealthOK {
				return fmt.Errorf("%s health %q: %s", p.Name, all[p.Name].Health, all[p.Name].HealthDetail)
			}
		}
		return nil
	})
	t.Logf("%s diverged %s after its restart: %s", bad, time.Since(restarted).Round(100*time.Millisecond), st.HealthDetail)
	if !strings.Contains(st.HealthDetail, "differs") && !strings.Contains(st.HealthDetail, "every other peer") ||
		!strings.Contains(st.HealthDetail, "folio peer rebuild --peer "+bad) {
		t.Fatalf("health detail: %s", st.HealthDetail)
	}
	// JSON: every node has the fields; the table has the column and the note.
	var raw struct {
		Nodes []map[string]any `json:"nodes"`
	}
	n.json(&raw, "network", "status")
	for _, nd := range raw.Nodes {
		if _, ok := nd["health"]; !ok {
			t.Fatalf("no \"health\" in %v", nd)
		}
		if _, ok := nd["health_detail"]; !ok {
			t.Fatalf("no \"health_detail\" in %v", nd)
		}
	}
	text := n.must("network", "status").stdout
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != "peer" {
			continue
		}
		if want := map[bool]string{true: "diverged", false: "ok"}[f[0] == bad]; f[4] != want || (f[0] == bad) != strings.Contains(line, "DIVERGED: ") {
			t.Fatalf("HEALTH column of %s is %q, want %q:\n%s", f[0], f[4], want, text)
		}
	}
	if m := metrics(t, s.node(bad).Operations); !strings.Contains(m, `folio_peer_health{state="diverged"} 1`) ||
		!strings.Contains(m, `folio_peer_health_detections_total{kind="diverged"} 1`) {
		t.Fatalf("metrics of %s:\n%s", bad, grepLines(m, "folio_peer_health"))
	}
	if logText := readLog(t, n, bad); !strings.Contains(logText, "STATE DIVERGED") || !strings.Contains(logText, `"level":"ERROR"`) {
		t.Fatalf("%s logged no ERROR about its divergence", bad)
	}

	phase("divergence reported")
	// It endorses nothing: through it, a registration fails over to its
	// organisation's other peer; with that one stopped, it fails and says
	// why.
	var reg2 submitted
	n.json(&reg2, "work", "register", "--peer", bad, "--id", "DIV-2", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("e", 64))
	if reg2.Status != "VALID" {
		t.Fatalf("registration through %s: %+v", bad, reg2)
	}
	if endorsers := endorsersOf(t, s, reg2.Block, reg2.TxID); strings.Contains(endorsers, bad) || !strings.Contains(endorsers, mate) {
		t.Fatalf("transaction %s endorsed by %s", reg2.TxID, endorsers)
	}
	phase("registration through it failed over")
	n.must("network", "stop", mate)
	phase(mate + " stopped")
	r, err := n.run("work", "register", "--peer", bad, "--id", "DIV-3", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("f", 64))
	if err == nil {
		t.Fatalf("registration with %s diverged and %s stopped succeeded:\n%s", bad, mate, r)
	}
	if want := bad + " stopped endorsing: its state root at block "; !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "rebuild it with `folio peer rebuild --peer "+bad+"`") {
		t.Fatalf("refusal does not say why (want %q):\n%s", want, r)
	}
	phase("registration refused")
	n.must("network", "start", mate)

	// Rebuild: the old ledger is kept aside, the peer replays the chain.
	phase("refusals checked")
	var rb struct {
		Rebuilt localnet.RebuildResult `json:"rebuilt"`
	}
	n.json(&rb, "peer", "rebuild", "--peer", bad)
	phase(fmt.Sprintf("rebuilt: %+v", rb.Rebuilt))
	if rb.Rebuilt.Health != evidence.HealthOK || rb.Rebuilt.HealthBefore != evidence.HealthDiverged || rb.Rebuilt.Height < rb.Rebuilt.Target || len(rb.Rebuilt.Agreeing) == 0 {
		t.Fatalf("rebuild: %+v", rb.Rebuilt)
	}
	for _, p := range []string{"db", "health.json"} {
		if _, err := os.Stat(filepath.Join(rb.Rebuilt.MovedTo, p)); err != nil || !strings.HasPrefix(rb.Rebuilt.MovedTo, filepath.Join(n.dir, "nodes", bad, "data", "ledger.diverged-")) {
			t.Fatalf("old ledger not kept in %s: %v", rb.Rebuilt.MovedTo, err)
		}
	}
	eventually(t, 30*time.Second, "every signed state root agrees after the rebuild", func() error {
		all := rootStatus(n)
		for _, p := range peers {
			if all[p.Name].Health != evidence.HealthOK {
				return fmt.Errorf("%s health %q: %s", p.Name, all[p.Name].Health, all[p.Name].HealthDetail)
			}
		}
		return rootsAgree(all, peers)
	})
	var reg4 submitted
	n.json(&reg4, "work", "register", "--peer", bad, "--id", "DIV-4", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("c", 64))
	s.waitHeight(reg4.Block, 30*time.Second)
	// The same state root as every other peer at every height.
	for num := uint64(0); num <= reg4.Block; num++ {
		want := s.block(mate, num).GetMetadata().GetStateRoot()
		for _, p := range peers {
			if got := s.block(p.Name, num).GetMetadata().GetStateRoot(); !bytes.Equal(got, want) {
				t.Fatalf("block %d: %s has root %x, %s %x", num, p.Name, got, mate, want)
			}
		}
	}
	if got := s.block(bad, last).GetMetadata().GetStateRoot(); !bytes.Equal(got, was) {
		t.Fatalf("block %d: rebuilt %s has root %x, want %x", last, bad, got, was)
	}

	// Equivocation (this breaks the network, so it comes last): a stopped
	// peer's last block is replaced by another block of the same height,
	// signed with orderer0's key, as an equivocating orderer would. The
	// peer that holds it and the peers that ask it about that height see
	// two orderer-signed blocks: they stop, with an alarm.
	phase("rebuild checked")
	const forked = "peer1.org2"
	tip := quietHeight(t, s) - 1
	stopNode(t, n, forked)
	forgeTip(t, filepath.Join(n.dir, "nodes", forked, "data", "db"), s.ordererIdentity("orderer0"), tip)
	// (Its start may time out if a block was cut meanwhile: it cannot
	// follow the orderers' chain any more.)
	if r, err := n.run("network", "start", forked, "--timeout", "20s"); err != nil {
		t.Logf("start %s: %v\n%s", forked, err, r)
	}
	eventually(t, 45*time.Second, forked+" sees the equivocation", func() error {
		all := rootStatus(n)
		for _, p := range peers {
			ps := all[p.Name]
			// The peers still at that height ask the forked peer about it.
			if (p.Name == forked || ps.Height == tip+1) && ps.Health != evidence.HealthEquivocation {
				return fmt.Errorf("%s (height %d) health %q %s", p.Name, ps.Height, ps.Health, ps.HealthDetail)
			}
		}
		return nil
	})
	phase("equivocation reported")
	all := rootStatus(n)
	for _, p := range peers {
		t.Logf("%s: height %d, health %s: %s", p.Name, all[p.Name].Height, all[p.Name].Health, all[p.Name].HealthDetail)
	}
	for _, p := range peers {
		d := all[p.Name].HealthDetail
		if all[p.Name].Health != evidence.HealthEquivocation {
			continue
		}
		if !strings.Contains(d, fmt.Sprintf("two different orderer-signed blocks exist for block %d", tip)) ||
			(p.Name != forked && (!strings.Contains(d, forked+" holds ") || !strings.Contains(d, "(signed by orderer0@"))) {
			t.Fatalf("equivocation detail of %s: %s", p.Name, d)
		}
	}
	if logText := readLog(t, n, forked); !strings.Contains(logText, "ALARM: ORDERER EQUIVOCATION") {
		t.Fatalf("%s logged no alarm", forked)
	}
	if m := metrics(t, s.node(forked).Operations); !strings.Contains(m, `folio_peer_health{state="equivocation"} 1`) {
		t.Fatalf("metrics of %s:\n%s", forked, grepLines(m, "folio_peer_health"))
	}
	if all[mate].Health == evidence.HealthEquivocation {
		// Org1 cannot endorse any more: its peers stopped.
		r, err := n.run("work", "register", "--id", "DIV-5", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("9", 64))
		if err == nil || !strings.Contains(r.stderr, "stopped endorsing and committing") {
			t.Fatalf("registration after the equivocation: %v\n%s", err, r)
		}
	}
}

// ordererIdentity loads an orderer's signing identity from its node
// directory (what an equivocating orderer signs with).
func (s *sdk) ordererIdentity(name string) *identity.SigningIdentity {
	return s.nodeIdentity(name, identity.RoleOrderer)
}

// forgeTip replaces block num, the last block of a stopped peer's block
// store, by another block of the same height and content (its timestamp
// one nanosecond later) signed by orderer: the header, the block, the hash
// index and the chain tip.
func forgeTip(t *testing.T, dbDir string, orderer *identity.SigningIdentity, num uint64) {
	t.Helper()
	db, err := pebblekv.Open(dbDir, pebblekv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tipRec, err := db.Get([]byte("blk/tip"))
	if err != nil {
		t.Fatal(err)
	}
	if h := binary.BigEndian.Uint64(tipRec[:8]); h != num+1 {
		t.Fatalf("the stopped peer's height is %d, want %d", h, num+1)
	}
	oldHash := bytes.Clone(tipRec[8:])
	blockKey := kv.AppendUint64([]byte("blk/b/"), num)
	raw, err := db.Get(blockKey)
	if err != nil {
		t.Fatal(err)
	}
	var b foliov1.Block
	if err := proto.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	b.Header.TimestampUnixNano++
	hdr, err := types.HeaderBytes(b.Header)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := orderer.Sign(types.DomainBlock, hdr)
	if err != nil {
		t.Fatal(err)
	}
	b.Metadata.Signatures = []*foliov1.OrdererSignature{{Signer: orderer.Serialized(), Signature: sig}}
	hash, err := types.HeaderHash(b.Header)
	if err != nil {
		t.Fatal(err)
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	batch := db.NewBatch()
	defer batch.Close()
	for _, kvp := range []struct{ k, v []byte }{
		{blockKey, data},
		{kv.AppendUint64([]byte("blk/h/"), num), hdr},
		{append([]byte("blk/x/"), hash...), kv.AppendUint64(nil, num)},
		{[]byte("blk/tip"), append(kv.AppendUint64(nil, num+1), hash...)},
	} {
		if err := batch.Set(kvp.k, kvp.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Delete(append([]byte("blk/x/"), oldHash...)); err != nil {
		t.Fatal(err)
	}
	if err := batch.Commit(kv.WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
}

// metrics reads a node's /metrics from its operations listener.
func metrics(t *testing.T, ops string) string {
	t.Helper()
	resp, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// endorsersOf names the endorsers (certificate common names) of a
// transaction of a block.
func endorsersOf(t *testing.T, s *sdk, block uint64, txID string) string {
	t.Helper()
	for _, raw := range s.block("peer0.org2", block).GetData().GetEnvelopes() {
		env := &foliov1.Envelope{}
		if err := proto.Unmarshal(raw, env); err != nil {
			t.Fatal(err)
		}
		p, err := types.ParseEnvelope(env)
		if err != nil || p.GetHeader().GetTxId() != txID {
			continue
		}
		et, err := types.ParseEndorsedTransaction(p)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range et.Tx.GetEndorsements() {
			_, cert, err := identity.Deserialize(e.Endorser)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, cert.Subject.CommonName)
		}
		return strings.Join(names, ", ")
	}
	t.Fatalf("no transaction %s in block %d", txID, block)
	return ""
}
