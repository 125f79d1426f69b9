package vmtest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// Harness is a Runtime with one loaded Module and a MemState, closed when
// the test ends.
type Harness struct {
	Runtime *vm.Runtime
	Module  *vm.Module
	State   *MemState
}

// NewHarness loads wasm as contract name, version "1", in a new Runtime
// with opts (CacheDir defaults to the test binary's shared cache).
func NewHarness(tb testing.TB, name string, wasm []byte, opts vm.Options) *Harness {
	tb.Helper()
	ctx := context.Background()
	if opts.CacheDir == "" {
		opts.CacheDir = CacheDir(tb)
	}
	rt, err := vm.NewRuntime(ctx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(ctx) })
	m, err := rt.Load(ctx, name, "1", wasm)
	if err != nil {
		tb.Fatal(err)
	}
	return &Harness{Runtime: rt, Module: m, State: NewMemState()}
}

// Invoke simulates call against the harness state without committing.
func (h *Harness) Invoke(call abi.Call) (*vm.Result, error) {
	return h.Runtime.Invoke(context.Background(), h.Module, call, h.State)
}

// Submit simulates call and, if it answered 2xx and is not read-only,
// commits its write set as the next block, stamped with the call's
// timestamp. block is 0 if nothing was committed, which includes a call
// whose commit_not_before time is after its timestamp (validation would
// mark it TOO_EARLY), as contracttest.Ledger.Invoke does.
func (h *Harness) Submit(call abi.Call) (res *vm.Result, block uint64, err error) {
	res, err = h.Invoke(call)
	if err != nil || call.ReadOnly || res.Response.Status < 200 || res.Response.Status > 299 {
		return res, 0, err
	}
	ts := call.Timestamp
	if ts.IsZero() {
		ts = time.Unix(0, 0)
	}
	if ts.UnixNano() < res.RWSet.GetNotBeforeUnixNano() {
		return res, 0, nil
	}
	block, err = h.State.Commit(res.RWSet, call.TxID, ts)
	return res, block, err
}

var shared struct {
	mu sync.Mutex
	// hs holds one Runtime and Module per contract name and module hash,
	// living as long as the test binary.
	hs map[string]*Harness
}

// SharedOrgs are the channel organisations the runtimes of Shared answer
// channel_orgs with: those of the test identities (Org1, Org2).
var SharedOrgs = []string{"Org1", "Org2"}

// Shared returns a Harness with a fresh MemState on a Runtime and Module
// (default options) that are created once per test binary for this name
// and module and never closed: loading a Go contract costs a good part of
// a second, more under the race detector. Its runtime answers
// channel_orgs with SharedOrgs.
func Shared(tb testing.TB, name string, wasm []byte) *Harness {
	tb.Helper()
	key := fmt.Sprintf("%s/%x", name, sha256.Sum256(wasm))
	shared.mu.Lock()
	defer shared.mu.Unlock()
	h := shared.hs[key]
	if h == nil {
		ctx := context.Background()
		rt, err := vm.NewRuntime(ctx, vm.Options{CacheDir: CacheDir(tb), ChannelOrgs: SharedOrgs})
		if err != nil {
			tb.Fatal(err)
		}
		m, err := rt.Load(ctx, name, "1", wasm)
		if err != nil {
			rt.Close(ctx)
			tb.Fatal(err)
		}
		h = &Harness{Runtime: rt, Module: m}
		if shared.hs == nil {
			shared.hs = map[string]*Harness{}
		}
		shared.hs[key] = h
	}
	return &Harness{Runtime: h.Runtime, Module: h.Module, State: NewMemState()}
}
