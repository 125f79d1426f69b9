package vm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

// TestMisbehavingContract checks that each kind of bad behaviour fails
// only the call at hand, with a clear error, discards the instance, and
// leaves the module working.
func TestMisbehavingContract(t *testing.T) {
	ctx := context.Background()
	wasm := vmtest.BuildWasm(t, testdataPkg+"misbehave")
	rt := newRuntime(t, vm.Options{CallTimeout: 500 * time.Millisecond, MemoryLimitPages: 256})
	m, err := rt.Load(ctx, "misbehave", "1", wasm)
	if err != nil {
		t.Fatal(err)
	}
	// Memory exhaustion must not lose the race with the timeout, even on a
	// loaded machine under the race detector: its own runtime, more time.
	rtSlow := newRuntime(t, vm.Options{CallTimeout: 20 * time.Second, MemoryLimitPages: 256})
	mSlow, err := rtSlow.Load(ctx, "misbehave", "1", wasm)
	if err != nil {
		t.Fatal(err)
	}
	st := vmtest.NewMemState()
	cases := []struct {
		fn       string
		sentinel error  // nil: a response, no error
		status   int32  // the response status when sentinel is nil
		fragment string // in the error or response message
		output   string // in CallError.Output
	}{
		{"loop", vm.ErrTimeout, 0, "timed out after 500ms", ""},
		{"alloc", vm.ErrMemoryLimit, 0, "exceeded its memory limit", "fatal error"},
		{"panic", nil, 500, "contract panicked in panic: boom", ""},
		{"gopanic", vm.ErrPanic, 0, "contract panicked", "panic: boom in a goroutine"},
		{"exit", vm.ErrContractExit, 0, "exit_code(3)", ""},
		{"badptr", vm.ErrABIViolation, 0, "state_get: buffer", ""},
		{"bigresp", nil, 500, "contract response refused: too large", ""},
		{"badstatus", nil, 500, "contract response refused: invalid argument: status 99 outside [200, 599]", ""},
	}
	for _, c := range cases {
		t.Run(c.fn, func(t *testing.T) {
			rt, m := rt, m
			if c.fn == "alloc" {
				rt, m = rtSlow, mSlow
			}
			before := rt.Stats()
			res, err := rt.Invoke(ctx, m, call(c.fn), st)
			if c.sentinel == nil {
				if err != nil {
					t.Fatal(err)
				}
				if res.Response.Status != c.status || !strings.Contains(res.Response.Message, c.fragment) {
					t.Fatalf("response %d %q, want %d mentioning %q", res.Response.Status, res.Response.Message, c.status, c.fragment)
				}
			} else {
				var ce *vm.CallError
				if !errors.As(err, &ce) || !errors.Is(err, c.sentinel) {
					t.Fatalf("error %v, want a *CallError wrapping %v", err, c.sentinel)
				}
				if ce.Function != c.fn || ce.TxID != "tx-"+c.fn || ce.Contract != "misbehave" || ce.Status() != 500 {
					t.Errorf("call error fields %+v", ce)
				}
				if !strings.Contains(err.Error(), c.fragment) {
					t.Errorf("error %q does not mention %q", err, c.fragment)
				}
				if !strings.Contains(ce.Output, c.output) {
					t.Errorf("output %q does not contain %q", ce.Output, c.output)
				}
			}
			if c.status != 200 {
				if d := rt.Stats().Discards - before.Discards; d != 1 && c.fn != "bigresp" && c.fn != "badstatus" {
					t.Errorf("%d instances discarded, want 1", d)
				}
			}
			// The next call on the same module works.
			res, err = rt.Invoke(ctx, m, call("echo", "still here"), st)
			if err != nil || string(res.Response.Payload) != "still here" {
				t.Fatalf("call after %s: %v %v", c.fn, res, err)
			}
		})
	}
	if s := rt.Stats(); s.Timeouts != 1 || s.Panics != 2 {
		t.Errorf("stats %+v", s)
	}
	if s := rtSlow.Stats(); s.MemoryFaults != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestArgsAndCallChecks(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, vm.Options{MaxArgBytes: 1024})
	m, err := rt.Load(ctx, "misbehave", "1", vmtest.BuildWasm(t, testdataPkg+"misbehave"))
	if err != nil {
		t.Fatal(err)
	}
	inst := rt.Stats().Instantiations
	_, err = rt.Invoke(ctx, m, call("echo", strings.Repeat("x", 1021)), vmtest.NewMemState())
	var ce *vm.CallError
	if !errors.Is(err, vm.ErrArgsTooLarge) || !errors.As(err, &ce) || ce.Status() != 400 {
		t.Fatalf("oversize args: %v", err)
	}
	for _, c := range []abi.Call{{Function: "echo", Timestamp: time.Now()}, {TxID: "t", Timestamp: time.Now()}, {TxID: "t", Function: "echo"}} {
		if _, err := rt.Invoke(ctx, m, c, vmtest.NewMemState()); !errors.Is(err, vm.ErrBadCall) {
			t.Errorf("call %+v: %v", c, err)
		}
	}
	if _, err := rt.Invoke(ctx, m, call("echo"), nil); !errors.Is(err, vm.ErrBadCall) {
		t.Errorf("nil state: %v", err)
	}
	if _, err := rt.Invoke(ctx, nil, call("echo"), vmtest.NewMemState()); !errors.Is(err, vm.ErrBadCall) {
		t.Errorf("nil module: %v", err)
	}
	if got := rt.Stats().Instantiations; got != inst {
		t.Errorf("refused calls instantiated %d instances", got-inst)
	}
	if res, err := rt.Invoke(ctx, m, call("echo", strings.Repeat("x", 1000)), vmtest.NewMemState()); err != nil || len(res.Response.Payload) != 1000 {
		t.Fatalf("args within the limit: %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	rt, m := loadMisbehave(t, vm.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := rt.Invoke(ctx, m, call("loop"), vmtest.NewMemState())
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, vm.ErrTimeout) {
		t.Fatalf("caller's deadline: %v", err)
	}
	if res, err := rt.Invoke(context.Background(), m, call("echo", "ok"), vmtest.NewMemState()); err != nil || string(res.Response.Payload) != "ok" {
		t.Fatalf("after cancel: %v", err)
	}
}

// TestEnvironment checks what a contract sees: the transaction timestamp
// as the clock, randomness from the transaction ID, no sleeping for real,
// no arguments, environment, filesystem or network.
func TestEnvironment(t *testing.T) {
	ctx := context.Background()
	rt, m := loadMisbehave(t, vm.Options{})
	run := func(c abi.Call) map[string]any {
		t.Helper()
		start := time.Now()
		res, err := rt.Invoke(ctx, m, c, vmtest.NewMemState())
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("env call took %v: the guest slept for real", took)
		}
		var out map[string]any
		if err := json.Unmarshal(res.Response.Payload, &out); err != nil {
			t.Fatal(err, string(res.Response.Payload))
		}
		return out
	}
	c := call("env")
	e := run(c)
	ts := float64(c.Timestamp.UnixNano())
	for k, want := range map[string]any{
		"now": ts, "ctx_time": ts, "slept_1h": true, "goroutine": float64(42), "args": float64(0), "environ": float64(0),
		"fs_denied": true, "net_denied": true, "tx": "tx-env", "channel": "ch1", "namespace": "misbehave", "read_only": false,
	} {
		if e[k] != want {
			t.Errorf("%s = %v, want %v", k, e[k], want)
		}
	}
	creator, _ := e["creator"].(map[string]any)
	if creator["Org"] != "Org1" || creator["Name"] != "alice" || creator["Role"] != "client" || creator["MSPID"] != "Org1MSP" {
		t.Errorf("creator %v", creator)
	}
	if again := run(c); again["rand"] != e["rand"] {
		t.Errorf("same tx, different randomness: %v %v", e["rand"], again["rand"])
	}
	c2 := c
	c2.TxID = "another tx"
	if other := run(c2); other["rand"] == e["rand"] {
		t.Errorf("different txs, same randomness %v", e["rand"])
	}
}

func TestConcurrentCalls(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, vm.Options{PoolSize: 2})
	m, err := rt.Load(ctx, "misbehave", "1", vmtest.BuildWasm(t, testdataPkg+"misbehave"))
	if err != nil {
		t.Fatal(err)
	}
	st := vmtest.NewMemState()
	st.Put("misbehave", "k", []byte("v"), 1, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				c := call("script", "get k", "put k2 x")
				c.TxID = strings.Repeat("t", g+1) + string(rune('a'+i))
				res, err := rt.Invoke(ctx, m, c, st)
				if err != nil {
					errs <- err
					return
				}
				if !strings.HasPrefix(string(res.Response.Payload), `get k = "v" 1.0`) {
					errs <- errors.New(string(res.Response.Payload))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := rt.Stats(); s.Calls != 40 || s.CallErrors != 0 || s.PoolHits == 0 {
		t.Errorf("stats %+v", s)
	}
	if _, v, _ := st.Get("misbehave", "k2"); v != nil {
		t.Error("simulation wrote to the state")
	}
}
