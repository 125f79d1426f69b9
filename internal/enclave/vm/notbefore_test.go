package vm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
	"github.com/folio-ledger/folio/internal/types"
)

// TestCommitNotBeforeRecorded runs Context.CommitNotBefore through the
// real ABI (SDK, commit_not_before, simulator): the latest valid time is
// recorded in the read/write set, a time at or before the epoch is
// refused with ErrInvalidArgument and not recorded, and a call that
// touched no state still carries the assertion.
func TestCommitNotBeforeRecorded(t *testing.T) {
	ctx := context.Background()
	rt, m := loadMisbehave(t, vm.Options{})
	later := time.Date(2026, 5, 1, 13, 0, 0, 123456789, time.UTC)
	earlier := later.Add(-time.Hour)
	for _, readOnly := range []bool{false, true} {
		c := call("script",
			"notbefore "+earlier.Format(time.RFC3339Nano),
			"notbefore "+later.Format(time.RFC3339Nano),
			"notbefore "+earlier.Format(time.RFC3339Nano), // an earlier time does not lower it
			"notbefore 1969-12-31T23:59:59Z",
			"notbefore 1970-01-01T00:00:00Z",
		)
		c.ReadOnly = readOnly
		res, err := rt.Invoke(ctx, m, c, vmtest.NewMemState())
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(res.Response.Payload), "\n")
		if len(lines) != 5 || !strings.HasSuffix(lines[0], "<nil>") || !strings.HasSuffix(lines[1], "<nil>") || !strings.HasSuffix(lines[2], "<nil>") {
			t.Fatalf("read-only %v: script output:\n%s", readOnly, res.Response.Payload)
		}
		for _, l := range lines[3:] {
			if !strings.Contains(l, abi.ErrnoInvalidArgument.String()) {
				t.Errorf("read-only %v: %q, want a refusal", readOnly, l)
			}
		}
		if got := res.RWSet.GetNotBeforeUnixNano(); got != later.UnixNano() {
			t.Errorf("read-only %v: not before %d, want %d", readOnly, got, later.UnixNano())
		}
		if len(res.RWSet.GetNsRwsets()) != 0 {
			t.Errorf("read-only %v: no state touched, rwset %v", readOnly, res.RWSet)
		}
		if err := types.ValidateReadWriteSet(res.RWSet); err != nil {
			t.Fatal(err)
		}
	}
	// Without the assertion the field stays 0: existing contracts produce
	// byte-identical read/write sets.
	res, err := rt.Invoke(ctx, m, call("script", "put a 1"), vmtest.NewMemState())
	if err != nil || res.RWSet.GetNotBeforeUnixNano() != 0 {
		t.Fatalf("res %v err %v", res, err)
	}
}

// TestCommitNotBeforeHostFunction calls commit_not_before from a
// hand-made module, to check the host side alone: the two i32 halves
// make one signed Unix nanosecond time, a time at or before the epoch
// returns -ErrnoInvalidArgument, and the ABI version rules hold (a module
// of version 1 still runs; one that reports version 1 but imports the
// version 2 function is refused).
func TestCommitNotBeforeHostFunction(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, vm.Options{CallTimeout: 5 * time.Second})
	notBeforeImport := wasmImport{abi.HostModule, abi.FnCommitNotBefore, i32sig(2, 1)}
	// invoke calls commit_not_before(lo, hi) and answers status 204+rc:
	// 204 for success, 200 for -ErrnoInvalidArgument (4).
	invoke := func(n int64) []byte {
		lo, hi := abi.SplitNanos(n)
		return cat(i32const(int32(lo)), i32const(int32(hi)), []byte{opCall}, uleb(0),
			i32const(204), []byte{opI32Add},
			i32const(0), i32const(0), i32const(0), i32const(0), []byte{opCall}, uleb(1), []byte{opDrop},
			i32const(abi.InvokeOK))
	}
	far := time.Date(2200, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano() // needs the high half
	cases := []struct {
		name   string
		n      int64
		status int32
		want   int64
	}{
		{"valid time", far, 204, far},
		{"epoch", 0, 204 - int32(abi.ErrnoInvalidArgument), 0},
		{"before the epoch", -1, 204 - int32(abi.ErrnoInvalidArgument), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := rt.Load(ctx, "nb", "1", reactor(abi.Version, invoke(c.n), notBeforeImport, responseSetImport).assemble())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			res, err := rt.Invoke(ctx, m, call("f"), vmtest.NewMemState())
			if err != nil {
				t.Fatal(err)
			}
			if res.Response.Status != c.status || res.RWSet.GetNotBeforeUnixNano() != c.want {
				t.Fatalf("status %d not before %d, want %d and %d", res.Response.Status, res.RWSet.GetNotBeforeUnixNano(), c.status, c.want)
			}
		})
	}

	v1 := reactor(abi.MinVersion, respond(0, abi.InvokeOK), responseSetImport)
	m, err := rt.Load(ctx, "v1", "1", v1.assemble())
	if err != nil {
		t.Fatalf("a module of ABI version %d no longer loads: %v", abi.MinVersion, err)
	}
	if res, err := rt.Invoke(ctx, m, call("f"), vmtest.NewMemState()); err != nil || res.Response.Status != 200 {
		t.Fatalf("version 1 module: %v %v", res, err)
	}
	m.Close(ctx)
	_, err = rt.Load(ctx, "v1bad", "1", reactor(1, invoke(far), notBeforeImport, responseSetImport).assemble())
	if !errors.Is(err, vm.ErrABIVersion) || !strings.Contains(err.Error(), "imports host functions of version 2") {
		t.Fatalf("version 1 module importing commit_not_before: %v", err)
	}
}
