package enclave_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
)

// TestKillMidCall kills the enclave process (SIGKILL) while a call waits
// for an ocall: that call fails with ErrCrashed naming the process; the
// next call works, on a new process with the contract installed again and
// cold caches; the external cache was emptied.
func TestKillMidCall(t *testing.T) {
	st := enclavetest.NewVersionedState()
	st.Commit([]enclave.Write{put("kv", "a", "1", 0), put("kv", "slow", "2", 0)})
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	st.BeforeRead = func(op, ns, key string) error {
		if key == "slow" {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return nil
	}
	e := newEnclave(t, process, enclave.Options{State: st}, nil)
	install(t, e, "kv", kvPkg, false)
	wantValue(t, e, "a", "1")
	if s := e.Stats(); s.External.Entries == 0 {
		t.Fatal("external cache not filled")
	}
	pid := e.Stats().PID

	errc := make(chan error, 1)
	go func() {
		_, err := e.Simulate(context.Background(), "1", withNS("kv", call("get", "slow")))
		errc <- err
	}()
	<-entered // the call is inside an ocall
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-errc:
	case <-time.After(30 * time.Second):
		t.Fatal("the call did not fail after the kill")
	}
	close(release)
	var ce *enclave.CrashError
	if !errors.Is(err, enclave.ErrCrashed) || !errors.As(err, &ce) || ce.PID != pid || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("call during the kill: %v", err)
	}
	t.Log(err)

	// The next call waits for the restart and works.
	st.BeforeRead = nil
	wantValue(t, e, "a", "1")
	s := e.Stats()
	if s.Restarts != 1 || s.PID == pid || s.PID == 0 {
		t.Fatalf("after restart: %+v", s)
	}
	if s.External.Entries != 1 { // emptied at the restart, then refilled by that one read
		t.Fatalf("external cache not invalidated: %d entries", s.External.Entries)
	}
	if s.Internal.Entries != 1 {
		t.Fatalf("internal cache not cold: %d entries", s.Internal.Entries)
	}
	// Counters survive the restart.
	if s.Internal.Misses < 2 {
		t.Fatalf("counters lost: %+v", s.Internal)
	}
	// Commits go on.
	commit(t, st, e, put("kv", "a", "3", 0))
	wantValue(t, e, "a", "3")

	// Close stops the process and releases the readers.
	pid = e.Stats().PID
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("enclave process %d still there after Close: %v", pid, err)
	}
	if n := st.OpenReaders(); n != 0 {
		t.Fatalf("%d state readers left open", n)
	}
}

// TestKillDuringCommit: a process killed while a commit is pushed is
// replaced and the block pushed again.
func TestKillIdleThenCommit(t *testing.T) {
	st := enclavetest.NewVersionedState()
	e := newEnclave(t, process, enclave.Options{State: st}, nil)
	install(t, e, "kv", kvPkg, false)
	pid := e.Stats().PID
	syscall.Kill(pid, syscall.SIGKILL)
	// Whether the commit reaches the dead process or the new one, it
	// must succeed and the enclave must end at the new height.
	b := commit(t, st, e, put("kv", "a", "x", 0))
	wantValue(t, e, "a", "x")
	if s := e.Stats(); s.Height != b+1 || s.PID == pid {
		t.Fatalf("after kill and commit: %+v", s)
	}
}

// TestStartFailure: a binary that is not an enclave fails New with a
// clear error.
func TestStartFailure(t *testing.T) {
	st := enclavetest.NewVersionedState()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := enclave.New(ctx, enclave.Options{State: st, Exe: "/bin/true", StartTimeout: 10 * time.Second})
	if !errors.Is(err, enclave.ErrUnavailable) {
		t.Fatalf("New with /bin/true: %v", err)
	}
	t.Log(err)
	_, err = enclave.New(ctx, enclave.Options{State: st, Exe: "/nonexistent/folio"})
	if !errors.Is(err, enclave.ErrUnavailable) || !strings.Contains(err.Error(), "/nonexistent/folio") {
		t.Fatalf("New with a missing binary: %v", err)
	}
	if st.OpenReaders() != 0 {
		t.Fatalf("%d readers left open", st.OpenReaders())
	}
}
