package ledger_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger"
)

// The kill-recovery test runs TestRecoveryChild in a child process (this
// test binary, re-executed) that commits deterministic blocks in a loop,
// kills it with SIGKILL at a random point, reopens the ledger and checks it
// against a reference replay, then restarts the child to continue.
const (
	envRecoveryDir  = "FOLIO_LEDGER_RECOVERY_DIR"
	envRecoverySeed = "FOLIO_LEDGER_RECOVERY_SEED"
)

// recoveryOptions are the child's options: a small memtable so that flushes
// and compactions run (and get killed) often, and frequent pruning.
func recoveryOptions() ledger.Options {
	return ledger.Options{
		KeepRoots:  6,
		PruneEvery: 3,
		Store:      pebblekv.Options{MemTableBytes: 1 << 20},
	}
}

// TestRecoveryChild is the child process: it opens the ledger, reports
// "opened <height>", then commits blocks of the seeded workload from the
// ledger's height on, reporting "committed <n>" after each Commit returns,
// until it is killed (or its stdin closes: the parent is gone).
func TestRecoveryChild(t *testing.T) {
	dir := os.Getenv(envRecoveryDir)
	if dir == "" {
		t.Skip("the child of TestKillRecovery; runs only when that test starts it")
	}
	seed, err := strconv.ParseUint(os.Getenv(envRecoverySeed), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // the parent died: stop
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	l, err := ledger.Open(dir, recoveryOptions())
	if err != nil {
		fmt.Printf("error open: %v\n", err)
		os.Exit(3)
	}
	fmt.Printf("opened %d\n", l.Height())
	w := defaultWorkload(seed)
	prev := l.Blocks().LastHash()
	for n := l.Height(); ; n++ {
		b, u := w.block(n, prev)
		if _, err := l.Commit(b, u); err != nil {
			fmt.Printf("error commit: %v\n", err)
			os.Exit(3)
		}
		fmt.Printf("committed %d\n", n)
		prev = headerHash(b)
	}
}

// TestKillRecovery: SIGKILL a committing process at random points; every
// reopen must find the hash chain intact, at least every block the child
// reported committed, state, history and versions equal to a reference
// replay of the committed blocks, and the state root of the last block
// equal to the replay's. FOLIO_SOAK=1 runs 300 kills, -short 4, else 12.
func TestKillRecovery(t *testing.T) {
	iterations := 12
	if os.Getenv("FOLIO_SOAK") == "1" {
		iterations = 300
	} else if testing.Short() {
		iterations = 4
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envRecoverySeed); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (set %s to replay the same blocks), %d kills", seed, envRecoverySeed, iterations)
	dir := t.TempDir()
	w := defaultWorkload(seed)
	m := newModel()
	kills := rand.New(rand.NewPCG(seed, 1))
	reported := int64(-1) // highest block the child reported committed
	var inFlight, atOpen int
	start := time.Now()
	for i := 0; i < iterations; i++ {
		if i > 0 && i%50 == 0 {
			t.Logf("%d kills in %v, height %d", i, time.Since(start).Round(time.Second), m.height)
		}
		// Kill after 0-7 reported commits, then 0-3 ms more: inside a
		// commit, a prune, a flush or a compaction, or between them.
		waitCommits := kills.IntN(8)
		delay := time.Duration(kills.IntN(3000)) * time.Microsecond
		lines, stop := startChild(t, dir, seed)
		h, err := expectLine(lines, "opened")
		if err != nil {
			stop()
			t.Fatalf("kill %d: %v", i, err)
		}
		if h != int64(m.height) {
			stop()
			t.Fatalf("kill %d: child opened at height %d, the ledger was verified at %d", i, h, m.height)
		}
		for c := 0; c < waitCommits; c++ {
			n, err := expectLine(lines, "committed")
			if err != nil {
				stop()
				t.Fatalf("kill %d: %v", i, err)
			}
			reported = max(reported, n)
		}
		time.Sleep(delay) // the point: the kill lands at a random moment of the commit path
		rest := stop()
		for _, line := range rest {
			if n, ok := parseLine(line, "committed"); ok {
				reported = max(reported, n)
			}
		}

		l, err := ledger.Open(dir, ledger.Options{KeepRoots: 6, PruneEvery: 3, VerifyOnOpen: true})
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", i, err)
		}
		height := l.Height()
		if int64(height) < reported+1 {
			t.Fatalf("kill %d: reopened at height %d, but the child reported block %d committed", i, height, reported)
		}
		if int64(height) > reported+1 {
			inFlight++ // the block being committed when killed made it
		}
		if height == m.height {
			atOpen++
		}
		for n := m.height; n < height; n++ {
			b, u := w.block(n, m.lastHash)
			stored, err := l.Blocks().Block(n)
			if err != nil {
				t.Fatalf("kill %d: block %d: %v", i, n, err)
			}
			if !bytes.Equal(headerHash(stored), headerHash(b)) || !proto.Equal(stored.Data, b.Data) ||
				!bytes.Equal(stored.Metadata.ValidationCodes, b.Metadata.ValidationCodes) {
				t.Fatalf("kill %d: stored block %d differs from the generated one", i, n)
			}
			m.apply(b, u)
		}
		compareWithModel(t, l, m, w.namespaces) // VerifyOnOpen ran VerifyState
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills: final height %d, %d kills where the in-flight block survived, %d before any new block", iterations, m.height, inFlight, atOpen)
}

// startChild starts TestRecoveryChild on dir. lines delivers its stdout
// lines; stop kills it with SIGKILL, waits for it, and returns the lines not
// yet consumed. A child that exits by itself fails the test.
func startChild(t *testing.T, dir string, seed uint64) (lines <-chan string, stop func() []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecoveryChild$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), envRecoveryDir+"="+dir, fmt.Sprintf("%s=%d", envRecoverySeed, seed))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 1<<16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	stop = func() []string {
		_ = cmd.Process.Kill() // SIGKILL
		<-done
		err := cmd.Wait()
		stdin.Close()
		var rest []string
		for line := range ch {
			rest = append(rest, line)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v before it was killed; stdout tail %q; stderr:\n%s", err, rest, stderr.String())
		}
		return rest
	}
	return ch, stop
}

// expectLine waits for the next line and parses "<word> <n>".
func expectLine(lines <-chan string, word string) (int64, error) {
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	select {
	case line, ok := <-lines:
		if !ok {
			return 0, fmt.Errorf("child stopped before reporting %q", word)
		}
		n, ok := parseLine(line, word)
		if !ok {
			return 0, fmt.Errorf("child reported %q, want %q", line, word)
		}
		return n, nil
	case <-timeout.C:
		return 0, fmt.Errorf("no %q from the child in 2 minutes", word)
	}
}

func parseLine(line, word string) (int64, bool) {
	rest, ok := strings.CutPrefix(line, word+" ")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil
}
