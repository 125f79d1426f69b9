package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/evidence"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// rootStatus runs `network status --json` and returns the nodes by name,
// with the state-root fields.
func rootStatus(n *network) map[string]localnet.NodeStatus {
	var s struct {
		Nodes []localnet.NodeStatus `json:"nodes"`
	}
	n.json(&s, "network", "status")
	out := map[string]localnet.NodeStatus{}
	for _, nd := range s.Nodes {
		out[nd.Name] = nd
	}
	return out
}

// rootsAgree checks that status compared one state root signed by every
// peer and flagged none, and that every peer's own checks of the others
// agree (at least one round since they all started).
func rootsAgree(st map[string]localnet.NodeStatus, peers []localnet.Node) error {
	var root string
	for _, p := range peers {
		s := st[p.Name]
		if s.StateRootDisagrees {
			return fmt.Errorf("%s flagged: %s", p.Name, s.Disagreement)
		}
		if s.Attestation == nil || s.Attestation.Error != "" || s.Attestation.StateRoot == "" {
			return fmt.Errorf("%s: no valid attestation: %+v", p.Name, s.Attestation)
		}
		if root == "" {
			root = s.Attestation.StateRoot
		} else if s.Attestation.StateRoot != root {
			return fmt.Errorf("%s signed %s, another peer %s, yet nobody is flagged", p.Name, s.Attestation.StateRoot, root)
		}
		if len(s.AttestationChecks) != len(peers)-1 {
			return fmt.Errorf("%s checked %d peers, want %d", p.Name, len(s.AttestationChecks), len(peers)-1)
		}
		for _, c := range s.AttestationChecks {
			if c.Result != evidence.ResultAgree {
				return fmt.Errorf("%s's check of %s: %s (%s)", p.Name, c.Peer, c.Result, c.Detail)
			}
		}
	}
	return nil
}

// tamperTipRoot makes a stopped peer forget the last block's trie update:
// its ledger records the previous block's state root (whose trie nodes are
// still stored) as the root after the last block, in the root record and
// in the block's metadata (not covered by the orderers' signatures), which
// is all Open checks. The peer starts, its state entries are intact, but
// every root it computes from now on starts from the wrong trie. Returns
// the last block's number and both roots.
func tamperTipRoot(t *testing.T, dbDir string) (last uint64, was, now []byte) {
	t.Helper()
	db, err := pebblekv.Open(dbDir, pebblekv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rootPrefix := []byte("lg/r/")
	it, err := db.NewIter(&kv.IterOptions{Lower: rootPrefix, Upper: kv.PrefixEnd(rootPrefix)})
	if err != nil {
		t.Fatal(err)
	}
	if !it.Last() {
		t.Fatal("no state root record")
	}
	key := bytes.Clone(it.Key())
	was = bytes.Clone(it.Value())
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	last = binary.BigEndian.Uint64(key[len(rootPrefix):])
	if last == 0 {
		t.Fatal("the peer holds only the genesis block")
	}
	now, err = db.Get(kv.AppendUint64(bytes.Clone(rootPrefix), last-1))
	if err != nil {
		t.Fatal(err)
	}
	now = bytes.Clone(now)
	if bytes.Equal(now, was) {
		t.Fatalf("block %d changed no state; cannot tamper its root", last)
	}
	blockKey := kv.AppendUint64([]byte("blk/b/"), last)
	raw, err := db.Get(blockKey)
	if err != nil {
		t.Fatal(err)
	}
	var b foliov1.Block
	if err := proto.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.GetMetadata().GetStateRoot(), was) {
		t.Fatalf("block %d's metadata root %x is not the recorded %x", last, b.GetMetadata().GetStateRoot(), was)
	}
	b.Metadata.StateRoot = now
	raw, err = proto.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	batch := db.NewBatch()
	defer batch.Close()
	if err := batch.Set(key, now); err != nil {
		t.Fatal(err)
	}
	if err := batch.Set(blockKey, raw); err != nil {
		t.Fatal(err)
	}
	if err := batch.Commit(kv.WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
	return last, was, now
}

// stopNode sends SIGTERM to a node and waits until it exited.
func stopNode(t *testing.T, n *network, name string) {
	t.Helper()
	pid := n.peerPID(t, name)
	if pid == 0 {
		t.Fatalf("%s is not running", name)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, name+" stopped", func() error {
		if syscall.Kill(pid, 0) == nil && len(folioProcesses(filepath.Join(n.dir, "nodes", name))) > 0 {
			return fmt.Errorf("pid %d still running", pid)
		}
		return nil
	})
}

// TestStateRootDisagreementFlagged is issue 7's "every peer computes the
// same state root; peers exchange signed attestations and `folio network
// status` flags any peer that disagrees". On a healthy network status
// compares one signed root per peer and every peer's own exchange agrees.
// Then peer1.org2 is stopped and its ledger made to forget the last
// block's trie update (it still starts): status flags it, and only it, in
// the JSON and the NOTE column; the next block's root it computes differs
// too; and the other peers' exchange reports it (checks, warning in the
// log) while it reports them.
func TestStateRootDisagreementFlagged(t *testing.T) {
	n := newCopyrightNet(t)
	s := newSDK(t, n)
	peers := s.peers()
	// The peers record their contract installs on chain after they start;
	// let those blocks land first, so that the registration's block is the
	// tip (it changes state, which the tampering below needs).
	quietHeight(t, s)
	var reg submitted
	n.json(&reg, "work", "register", "--id", "ATT-1", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("a", 64))
	s.waitHeight(reg.Block, 30*time.Second)
	eventually(t, 30*time.Second, "every signed state root agrees", func() error { return rootsAgree(rootStatus(n), peers) })

	const bad = "peer1.org2"
	stopNode(t, n, bad)
	last, was, now := tamperTipRoot(t, filepath.Join(n.dir, "nodes", bad, "data", "db"))
	if last != reg.Block {
		t.Fatalf("the stopped peer's last block is %d, want %d (the registration); block %d holds %s", last, reg.Block, last, describeBlock(t, s, "peer0.org1", last))
	}
	t.Logf("%s now records root %x after block %d (was %x)", bad, now, last, was)
	n.must("network", "up", "--detach")

	st := rootStatus(n)
	for _, p := range peers {
		ps := st[p.Name]
		if ps.State != localnet.StateUp {
			t.Fatalf("%s is %s: %s", p.Name, ps.State, ps.Reason)
		}
		if p.Name == bad {
			if !ps.StateRootDisagrees || !strings.Contains(ps.Disagreement, "state root differs after block") || !strings.Contains(ps.Disagreement, "3 of 4 peers") {
				t.Fatalf("%s not flagged as it should be: %+v", bad, ps)
			}
			// (Its restart may have added a block: its install record.)
			if good := st["peer0.org1"].Attestation; ps.Attestation == nil || good == nil || ps.Attestation.Block != good.Block ||
				ps.Attestation.StateRoot == good.StateRoot {
				t.Fatalf("%s's attestation %+v, peer0.org1's %+v: want another root after the same block", bad, ps.Attestation, good)
			}
		} else if ps.StateRootDisagrees {
			t.Fatalf("%s flagged: %s", p.Name, ps.Disagreement)
		}
	}
	text := n.must("network", "status").stdout
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		flagged := strings.Contains(line, "STATE ROOT DISAGREES")
		if (f[0] == bad) != flagged {
			t.Fatalf("NOTE column of network status:\n%s", text)
		}
	}

	// The peer computes another root for the next block as well.
	var reg2 submitted
	n.json(&reg2, "work", "register", "--id", "ATT-2", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("b", 64))
	s.waitHeight(reg2.Block, 30*time.Second)
	good := s.block("peer0.org1", reg2.Block).GetMetadata().GetStateRoot()
	for _, p := range peers {
		root := s.block(p.Name, reg2.Block).GetMetadata().GetStateRoot()
		if (p.Name == bad) == bytes.Equal(root, good) {
			t.Fatalf("block %d: %s has root %x, peer0.org1 %x", reg2.Block, p.Name, root, good)
		}
	}

	// The peers' own exchange: each other peer finds the bad one
	// disagreeing (and warns), the bad one finds everyone disagreeing.
	eventually(t, 30*time.Second, "the peers' exchange reports "+bad, func() error {
		st := rootStatus(n)
		for _, p := range peers {
			for _, c := range st[p.Name].AttestationChecks {
				want := evidence.ResultAgree
				if p.Name == bad || c.Peer == bad {
					want = evidence.ResultDisagree
				}
				if c.Result != want || c.Block < reg2.Block {
					return fmt.Errorf("%s's check of %s: %s at block %d, want %s at block >= %d", p.Name, c.Peer, c.Result, c.Block, want, reg2.Block)
				}
			}
		}
		if !st[bad].StateRootDisagrees {
			return errors.New(bad + " no longer flagged")
		}
		return nil
	})
	logText := readLog(t, n, "peer0.org1")
	if !strings.Contains(logText, "state root disagreement") || !strings.Contains(logText, bad) {
		t.Fatalf("peer0.org1's log has no warning naming %s", bad)
	}
	// A peer's signed attestation is what status compared: check one by hand.
	a := attest(t, s, bad, reg2.Block)
	if a.StateRoot == nil || bytes.Equal(a.StateRoot, good) {
		t.Fatalf("%s attests %x for block %d", bad, a.StateRoot, reg2.Block)
	}
}

// attest asks a peer for its signed state root after block num and
// verifies the signature against the network's organisations.
func attest(t *testing.T, s *sdk, peer string, num uint64) *foliov1.StateAttestation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nd := s.node(peer)
	resp, err := foliov1connect.NewEvidenceServiceClient(client.HTTPClient(s.identity("user1@Org1"), s.roots), "https://"+nd.API).
		Attest(ctx, connect.NewRequest(&foliov1.AttestRequest{BlockNumber: num}))
	if err != nil {
		t.Fatalf("attestation of block %d by %s: %v", num, peer, err)
	}
	var orgs []identity.Org
	for _, o := range s.net.Orgs {
		orgs = append(orgs, identity.Org{Name: o.Name, MSPID: o.MSPID, Root: rootCert(t, filepath.Join(s.dir, o.RootCert))})
	}
	msp, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, st, err := evidence.VerifyAttestation(msp, s.net.Channel, nd.NodeID, resp.Msg)
	if err != nil {
		t.Fatalf("attestation by %s: %v", peer, err)
	}
	if id.Name != peer || st.BlockNumber != num {
		t.Fatalf("asked %s for block %d, got %s's of block %d", peer, num, id.Label(), st.BlockNumber)
	}
	return st
}

func rootCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := fcrypto.ReadCertificate(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// quietHeight waits until every peer has the same height and it has not
// changed for two seconds, and returns it.
func quietHeight(t *testing.T, s *sdk) uint64 {
	t.Helper()
	var prev uint64
	var since time.Time
	var h uint64
	eventually(t, 60*time.Second, "the network quiet", func() error {
		hs := map[uint64]bool{}
		for _, p := range s.peers() {
			h = s.height(p.Name)
			hs[h] = true
		}
		if len(hs) != 1 || h != prev {
			prev, since = h, time.Now()
			return fmt.Errorf("heights %v", hs)
		}
		if time.Since(since) < 2*time.Second {
			return fmt.Errorf("height %d for %s", h, time.Since(since).Round(time.Millisecond))
		}
		return nil
	})
	return h
}

// describeBlock names each transaction of a block: its ID, creator's
// organisation, data type and validation code (for failure messages).
func describeBlock(t *testing.T, s *sdk, peer string, num uint64) string {
	t.Helper()
	b := s.block(peer, num)
	codes := b.GetMetadata().GetValidationCodes()
	var out []string
	for i, raw := range b.GetData().GetEnvelopes() {
		env := &foliov1.Envelope{}
		if err := proto.Unmarshal(raw, env); err != nil {
			out = append(out, err.Error())
			continue
		}
		p, err := types.ParseEnvelope(env)
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		code := "?"
		if i < len(codes) {
			code = foliov1.ValidationCode(codes[i]).String()
		}
		out = append(out, fmt.Sprintf("%s (type %v, %s)", p.GetHeader().GetTxId(), p.GetHeader().GetType(), code))
	}
	return strings.Join(out, "; ")
}
