package replay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/clock"
	"github.com/folio-ledger/folio/internal/ledger"
)

// replayDir replays a data dir with a fresh work directory.
func replayDir(t *testing.T, dataDir string) *Report {
	t.Helper()
	work := t.TempDir()
	src, err := OpenDataDir(dataDir, work, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep, err := Run(context.Background(), src, Options{WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func replayFile(t *testing.T, path string) (*Report, error) {
	t.Helper()
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return Run(context.Background(), src, Options{WorkDir: t.TempDir()})
}

// export writes the chain of a (stopped) data dir into a block file.
func export(t *testing.T, dataDir string) string {
	t.Helper()
	src, err := OpenDataDir(dataDir, t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "chain.blocks")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(src, NewWriter(f)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeFile writes blocks into a block file.
func writeFile(t *testing.T, blocks []*foliov1.Block) string {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, b := range blocks {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chain.blocks")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fingerprint describes every file under dir: name, mode, size,
// modification time and content hash.
func fingerprint(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %d", path, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// sourceChain builds the test chain on one peer, stops the peer and
// returns its data dir, the final state root and the expected codes.
func sourceChain(t *testing.T) (*world, string, []byte, [][]foliov1.ValidationCode) {
	t.Helper()
	w := newWorld(t)
	p := w.newPeer(t)
	want := w.buildChain(t, p)
	root, err := p.led.StateRoot(p.led.Height() - 1)
	if err != nil {
		t.Fatal(err)
	}
	// The chain reaches the outcomes it was built for.
	for i, codes := range want {
		b, err := p.led.Blocks().Block(uint64(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		got := b.GetMetadata().GetValidationCodes()
		for j, c := range codes {
			if j >= len(got) || foliov1.ValidationCode(got[j]) != c {
				t.Fatalf("source block %d tx %d: code %v, the test chain wants %v", i+1, j, got, codes)
			}
		}
	}
	p.close()
	return w, p.dataDir, root, want
}

func TestReplayMatchesPeer(t *testing.T) {
	_, dataDir, root, want := sourceChain(t)
	before := fingerprint(t, dataDir)

	rep := replayDir(t, dataDir)
	if err := rep.Check(); err != nil {
		t.Fatalf("%v\n%+v", err, rep.Mismatches)
	}
	if fingerprint(t, dataDir) != before {
		t.Fatal("the replay changed the peer's data dir")
	}
	var txs uint64
	counts := map[string]uint64{}
	for _, codes := range want {
		txs += uint64(len(codes))
		for _, c := range codes {
			counts[c.String()]++
		}
	}
	if rep.Blocks != uint64(len(want)+1) || rep.Transactions != txs || rep.StateRoot != hex.EncodeToString(root) || rep.SourceStateRoot != rep.StateRoot {
		t.Fatalf("report %+v, want %d blocks, %d transactions, root %x", rep, len(want)+1, txs, root)
	}
	if fmt.Sprint(rep.Codes) != fmt.Sprint(counts) {
		t.Fatalf("codes %v, want %v", rep.Codes, counts)
	}
	if rep.Channel != "folio" || len(rep.GenesisHash) != 64 {
		t.Fatalf("report %+v", rep)
	}

	// The exported block file replays the same.
	file := export(t, dataDir)
	fsrc, err := OpenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fsrc.Close()
	var progress bytes.Buffer
	frep, err := Run(context.Background(), fsrc, Options{WorkDir: t.TempDir(), Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), fmt.Sprintf("replay: %d/? blocks, %d transactions, 0 mismatches", len(want)+1, txs)) {
		t.Fatalf("progress:\n%s", progress.String())
	}
	if err := frep.Check(); err != nil || frep.StateRoot != rep.StateRoot || frep.Blocks != rep.Blocks || fmt.Sprint(frep.Codes) != fmt.Sprint(rep.Codes) {
		t.Fatalf("block file replay: %v %+v", err, frep)
	}
	var out bytes.Buffer
	frep.Print(&out)
	if !strings.Contains(out.String(), "0 mismatches") || !strings.Contains(out.String(), rep.StateRoot) {
		t.Fatalf("printed report:\n%s", out.String())
	}
}

// indexOverride is a data dir source whose root index is wrong for one
// block.
type indexOverride struct {
	*LedgerSource
	block uint64
}

func (s indexOverride) IndexedRoot(num uint64) ([]byte, error) {
	r, err := s.LedgerSource.IndexedRoot(num)
	if num == s.block && err == nil {
		r = append([]byte(nil), r...)
		r[0] ^= 0xff
	}
	return r, err
}

// TestReplayReportsTampering: a stored code or state root that the replay
// does not reproduce is a mismatch naming block, transaction and both
// values.
func TestReplayReportsTampering(t *testing.T) {
	_, dataDir, _, _ := sourceChain(t)
	src, err := OpenDataDir(dataDir, t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	blocks := readAll(t, src)
	src.Close()

	tampered := func(f func(bs []*foliov1.Block)) []*foliov1.Block {
		out := make([]*foliov1.Block, len(blocks))
		for i, b := range blocks {
			out[i] = proto.Clone(b).(*foliov1.Block)
		}
		f(out)
		return out
	}
	one := func(n int) *int { return &n }
	for _, c := range []struct {
		name   string
		change func(bs []*foliov1.Block)
		want   []Mismatch
	}{
		{"a code relabelled", func(bs []*foliov1.Block) {
			bs[2].Metadata.ValidationCodes[1] = byte(foliov1.ValidationCode_VALID)
		}, []Mismatch{{Block: 2, Tx: one(1), Kind: KindCode, Source: "VALID", Replay: "MVCC_READ_CONFLICT"}}},
		{"a state root changed", func(bs []*foliov1.Block) {
			bs[4].Metadata.StateRoot[31] ^= 1
		}, []Mismatch{{Block: 4, Kind: KindStateRoot}}},
		{"the genesis root changed", func(bs []*foliov1.Block) {
			bs[0].Metadata.StateRoot[0] ^= 1
		}, []Mismatch{{Block: 0, Kind: KindStateRoot}}},
		{"codes missing", func(bs []*foliov1.Block) {
			bs[5].Metadata.ValidationCodes = bs[5].Metadata.ValidationCodes[:1]
		}, []Mismatch{{Block: 5, Tx: one(1), Kind: KindCode, Source: "(none)", Replay: "VALID"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := replayFile(t, writeFile(t, tampered(c.change)))
			if err != nil {
				t.Fatal(err)
			}
			if rep.MismatchCount != uint64(len(c.want)) || len(rep.Mismatches) != len(c.want) || !errors.Is(rep.Check(), ErrMismatch) {
				t.Fatalf("mismatches %d %+v, want %+v", rep.MismatchCount, rep.Mismatches, c.want)
			}
			for i, w := range c.want {
				m := rep.Mismatches[i]
				if m.Block != w.Block || m.Kind != w.Kind || (w.Tx == nil) != (m.Tx == nil) || (w.Tx != nil && *w.Tx != *m.Tx) ||
					(w.Source != "" && (m.Source != w.Source || m.Replay != w.Replay)) || m.Source == m.Replay {
					t.Fatalf("mismatch %d: %s, want %+v", i, m, w)
				}
				if w.Kind == KindCode && m.TxID == "" {
					t.Fatalf("mismatch %s does not name the transaction", m)
				}
			}
			var out bytes.Buffer
			rep.Print(&out)
			if !strings.Contains(out.String(), "MISMATCHES") {
				t.Fatalf("printed report:\n%s", out.String())
			}
		})
	}

	t.Run("root index disagrees", func(t *testing.T) {
		work := t.TempDir()
		src, err := OpenDataDir(dataDir, work, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		rep, err := Run(context.Background(), indexOverride{src, 3}, Options{WorkDir: work})
		if err != nil {
			t.Fatal(err)
		}
		if rep.MismatchCount != 1 || rep.Mismatches[0].Kind != KindStateRootIndex || rep.Mismatches[0].Block != 3 {
			t.Fatalf("mismatches %+v", rep.Mismatches)
		}
	})

	t.Run("a transaction changed", func(t *testing.T) {
		_, err := replayFile(t, writeFile(t, tampered(func(bs []*foliov1.Block) {
			bs[3].Data.Envelopes[0] = bs[3].Data.Envelopes[1]
		})))
		if err == nil || !strings.Contains(err.Error(), "block 3") {
			t.Fatalf("a block whose data does not match its header replayed: %v", err)
		}
	})

	t.Run("another genesis", func(t *testing.T) {
		other := newWorld(t)
		src, err := OpenFile(writeFile(t, blocks))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		_, err = Run(context.Background(), src, Options{WorkDir: t.TempDir(), Genesis: other.genesis})
		if err == nil || !strings.Contains(err.Error(), "another genesis") {
			t.Fatalf("replay against another network's genesis: %v", err)
		}
	})
}

// TestReplayDetectsPeerLocalRevocation: a peer that refused a creator
// because of a revocation list the chain does not hold (fetched from a CA,
// say) stored a code that the chain alone does not give; the replay
// reports it, and the state roots diverge from that block on.
func TestReplayDetectsPeerLocalRevocation(t *testing.T) {
	w := newWorld(t)
	local := proto.Clone(w.cfg).(*foliov1.ChannelConfig)
	local.Orgs[0].Crl = w.org1.crl(t, 1, w.user2.Cert)
	p := w.newPeerWith(t, local)
	w.buildChain(t, p) // block 2 tx 5 is user2's
	p.close()
	rep := replayDir(t, p.dataDir)
	if rep.MismatchCount == 0 {
		t.Fatal("the replay reproduced a peer-local revocation")
	}
	m := rep.Mismatches[0]
	if m.Block != 2 || m.Tx == nil || *m.Tx != 5 || m.Kind != KindCode || m.Source != "BAD_CREATOR_IDENTITY" || m.Replay != "VALID" {
		t.Fatalf("first mismatch %s", m)
	}
	// Later mismatches follow from that one: the roots diverge, and the
	// on-chain revocation of user2 is refused by the peer whose local list
	// is already as new.
	for _, m := range rep.Mismatches[1:] {
		if m.Block < 2 {
			t.Fatalf("unexpected mismatch %s", m)
		}
	}
}

// TestReplayFiveYearsLater replays the chain (with its on-chain
// revocation) in a child process whose clock is moved 5 years ahead by the
// test hook (internal/clock): every certificate of the chain has expired
// by then, and the replay must still reach the same codes and state roots
// at every height, from the data dir and from the exported file.
func TestReplayFiveYearsLater(t *testing.T) {
	if os.Getenv("FOLIO_REPLAY_CHILD_DATA") != "" {
		t.Skip("child")
	}
	_, dataDir, root, want := sourceChain(t)
	file := export(t, dataDir)
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplayChild$")
	cmd.Env = append(os.Environ(), clock.EnvOffset+"=43830h", "FOLIO_REPLAY_CHILD_DATA="+dataDir, "FOLIO_REPLAY_CHILD_FILE="+file,
		"FOLIO_REPLAY_CHILD_WORK="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "WARNING: test hook "+clock.EnvOffset) {
		t.Errorf("the child did not warn about the clock hook:\n%s", errb.String())
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rep Report
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("child report %q: %v", line, err)
		}
		n++
		if rep.ClockOffset != "43830h0m0s" {
			t.Errorf("%s: clock offset %q", rep.Source, rep.ClockOffset)
		}
		if rep.MismatchCount != 0 {
			var b strings.Builder
			rep.Print(&b)
			t.Errorf("5 years later, %s does not replay to the same codes and roots:\n%s", rep.Source, b.String())
		}
		if rep.StateRoot != hex.EncodeToString(root) || rep.Blocks != uint64(len(want)+1) {
			t.Errorf("%s: final root %s after %d blocks, the peer's %x after %d", rep.Source, rep.StateRoot, rep.Blocks, root, len(want)+1)
		}
	}
	if n != 2 {
		t.Fatalf("child printed %d reports, want 2:\n%s\n%s", n, out.String(), errb.String())
	}
}

func TestReplayChild(t *testing.T) {
	dataDir := os.Getenv("FOLIO_REPLAY_CHILD_DATA")
	if dataDir == "" {
		t.Skip("run by TestReplayFiveYearsLater")
	}
	work := os.Getenv("FOLIO_REPLAY_CHILD_WORK")
	var reps []*Report
	src, err := OpenDataDir(dataDir, filepath.Join(work, "dir"), quiet)
	if err == nil {
		var rep *Report
		rep, err = Run(context.Background(), src, Options{WorkDir: filepath.Join(work, "dir")})
		src.Close()
		reps = append(reps, rep)
	}
	if err != nil {
		t.Fatal(err)
	}
	fsrc, err := OpenFile(os.Getenv("FOLIO_REPLAY_CHILD_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	defer fsrc.Close()
	rep, err := Run(context.Background(), fsrc, Options{WorkDir: filepath.Join(work, "file")})
	if err != nil {
		t.Fatal(err)
	}
	reps = append(reps, rep)
	for _, r := range reps {
		line, _ := json.Marshal(r)
		fmt.Println(string(line))
	}
}

// TestReplayRefusesRunningPeer: a data dir whose database a running peer
// holds open is refused (a copy of it could be torn).
func TestReplayRefusesRunningPeer(t *testing.T) {
	if dir := os.Getenv("FOLIO_REPLAY_HOLD"); dir != "" {
		return // the child's work is in TestReplayHoldChild
	}
	_, dataDir, _, _ := sourceChain(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplayHoldChild$")
	cmd.Env = append(os.Environ(), "FOLIO_REPLAY_HOLD="+dataDir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	opened := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "opened") {
			opened = true
			break
		}
	}
	if !opened {
		t.Fatal("the child did not open the ledger")
	}
	_, err := OpenDataDir(dataDir, t.TempDir(), quiet)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("replay of a running peer's data dir: %v", err)
	}
}

func TestReplayHoldChild(t *testing.T) {
	dir := os.Getenv("FOLIO_REPLAY_HOLD")
	if dir == "" {
		t.Skip("run by TestReplayRefusesRunningPeer")
	}
	led, err := ledger.Open(filepath.Join(dir, "db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	fmt.Println("opened")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
}

func TestBlockFiles(t *testing.T) {
	_, dataDir, _, want := sourceChain(t)
	file := export(t, dataDir)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := OpenFile(file)
	blocks := readAll(t, src)
	src.Close()
	if len(blocks) != len(want)+1 {
		t.Fatalf("%d blocks in the file", len(blocks))
	}
	w := NewWriter(&bytes.Buffer{})
	if err := w.Write(blocks[1]); err == nil {
		t.Fatal("a block file starting at block 1 was written")
	}
	for _, c := range []struct {
		name, data, says string
	}{
		{"truncated", string(data[:len(data)-10]), "truncated"},
		{"starts at block 1", string(data[len(mustMarshalDelimited(t, blocks[0])):]), "not a block file"},
		{"garbage", "\x05hello", "block 0"},
		{"huge length", "\xff\xff\xff\xff\x7f", "block 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.blocks")
			if err := os.WriteFile(path, []byte(c.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := replayFile(t, path)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("replay of a bad file: %v, want an error saying %q", err, c.says)
			}
		})
	}
	empty := filepath.Join(t.TempDir(), "empty.blocks")
	_ = os.WriteFile(empty, nil, 0o600)
	if _, err := replayFile(t, empty); err == nil || !strings.Contains(err.Error(), "no block") {
		t.Fatalf("replay of an empty file: %v", err)
	}
	if _, err := OpenDataDir(t.TempDir(), t.TempDir(), quiet); err == nil || !strings.Contains(err.Error(), "no ledger database") {
		t.Fatalf("replay of an empty dir: %v", err)
	}
}

func mustMarshalDelimited(t *testing.T, b *foliov1.Block) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = w.Flush()
	return buf.Bytes()
}
