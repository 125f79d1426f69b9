package vm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
	"github.com/folio-ledger/folio/internal/types"
)

// loadMisbehave loads the misbehave contract; with zero options the
// Runtime is shared by the test binary.
func loadMisbehave(t testing.TB, opts vm.Options) (*vm.Runtime, *vm.Module) {
	t.Helper()
	if reflect.ValueOf(opts).IsZero() {
		h := vmtest.Shared(t, "misbehave", vmtest.BuildWasm(t, testdataPkg+"misbehave"))
		return h.Runtime, h.Module
	}
	rt := newRuntime(t, opts)
	m, err := rt.Load(context.Background(), "misbehave", "1", vmtest.BuildWasm(t, testdataPkg+"misbehave"))
	if err != nil {
		t.Fatal(err)
	}
	return rt, m
}

func ver(b, tx uint64) *foliov1.Version { return &foliov1.Version{BlockNum: b, TxNum: tx} }

// TestSimulationRecords drives the state functions through the real ABI
// and checks the answers and the read/write set.
func TestSimulationRecords(t *testing.T) {
	ctx := context.Background()
	rt, m := loadMisbehave(t, vm.Options{})
	st := vmtest.NewMemState()
	st.Put("misbehave", "a", []byte("1"), 1, 0)
	st.Put("misbehave", "b", []byte("2"), 2, 3)
	st.Put("misbehave", "c", []byte("3"), 2, 4)
	st.Put("misbehave", "\x00t\x00x\x00", []byte("idx"), 3, 0)
	st.Put("other", "a", []byte("not mine"), 1, 0)

	c := call("script",
		"get a",       // committed read: recorded at 1.0
		"put a 10",    // read then write
		"get a",       // own write, no version
		"get zz",      // absent: recorded with no version
		"put n 5",     // blind write
		"del n",       // a delete after a put is a delete
		"get n",       // own delete: absent, not recorded as a read
		"del b",       // blind delete
		"range a d",   // committed only: a, b, c with their versions
		"prefix t",    // composite keys of type t
		"get c",       // answered from the range, recorded as a read
		"event e1 p1", //
		"event e2 p2", //
		"history a",   // committed history
		"log hello",   //
	)
	res, err := rt.Invoke(ctx, m, c, st)
	if err != nil {
		t.Fatal(err)
	}
	got := string(res.Response.Payload)
	want := strings.Join([]string{
		`get a = "1" 1.0 <nil>`,
		`put a <nil>`,
		`get a = "10" - <nil>`,
		`get zz = "" - <nil>`,
		`put n <nil>`,
		`del n <nil>`,
		`get n = "" - <nil>`,
		`del b <nil>`,
		`range ["a"=1@1.0 "b"=2@2.3 "c"=3@2.4] <nil>`,
		`prefix ["\x00t\x00x\x00"=idx@3.0] <nil>`,
		`get c = "3" 2.4 <nil>`,
		`event e1 <nil>`,
		`event e2 <nil>`,
		`history a [{"TxID":"seed-1-0","Version":{"Block":1,"Tx":0},"Timestamp":"1970-01-01T00:00:00Z","IsDelete":false,"Value":"MQ=="}] <nil>`,
		`log`,
	}, "\n")
	if got != want {
		t.Fatalf("script output:\n%s\nwant:\n%s", got, want)
	}
	wantRW := &foliov1.ReadWriteSet{NsRwsets: []*foliov1.NsReadWriteSet{{
		Namespace: "misbehave",
		Reads: []*foliov1.KVRead{
			{Key: "a", Version: ver(1, 0)},
			{Key: "c", Version: ver(2, 4)},
			{Key: "zz"},
		},
		RangeReads: []*foliov1.RangeRead{
			{StartKey: "a", EndKey: "d", Exhausted: true, Reads: []*foliov1.KVRead{{Key: "a", Version: ver(1, 0)}, {Key: "b", Version: ver(2, 3)}, {Key: "c", Version: ver(2, 4)}}},
			{StartKey: "\x00t\x00", EndKey: "\x00t\x00\U0010FFFF", Exhausted: true, Reads: []*foliov1.KVRead{{Key: "\x00t\x00x\x00", Version: ver(3, 0)}}},
		},
		Writes: []*foliov1.KVWrite{
			{Key: "a", Value: []byte("10")},
			{Key: "b", IsDelete: true},
			{Key: "n", IsDelete: true},
		},
	}}}
	if !proto.Equal(res.RWSet, wantRW) {
		t.Fatalf("rwset:\n%v\nwant:\n%v", res.RWSet, wantRW)
	}
	if err := types.ValidateReadWriteSet(res.RWSet); err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 2 || res.Events[0].Name != "e1" || string(res.Events[1].Payload) != "p2" || res.Events[0].Contract != "misbehave" {
		t.Fatalf("events %v", res.Events)
	}
	if res.Contract.GetName() != "misbehave" || res.Contract.GetVersion() != "1" {
		t.Fatalf("contract ref %v", res.Contract)
	}
	// Simulation never changes the state.
	if v, ver, _ := st.Get("misbehave", "a"); string(v) != "1" || ver.BlockNum != 1 {
		t.Fatalf("state changed: a = %q", v)
	}
	if v, _, _ := st.Get("misbehave", "n"); v != nil {
		t.Fatal("state changed: n exists")
	}
}

func TestSimulationRefusals(t *testing.T) {
	ctx := context.Background()
	rt, m := loadMisbehave(t, vm.Options{MaxValueBytes: 64})
	st := vmtest.NewMemState()
	var events []string
	for i := range 65 {
		events = append(events, fmt.Sprintf("event %d x", i))
	}
	cases := []struct {
		name     string
		readOnly bool
		ops      []string
		want     string
	}{
		{"read-only put", true, []string{"put a 1"}, "put a put state \"a\": read-only call: cannot write \"a\" in a read-only call"},
		{"read-only del", true, []string{"del a"}, "del a delete state \"a\": read-only call"},
		{"read-only event", true, []string{"event e x"}, "event e set event \"e\": read-only call"},
		{"value too large", false, []string{"put a " + strings.Repeat("v", 65)}, "put a put state \"a\": too large: value of \"a\" has 65 bytes, limit 64"},
		{"composite range bound", false, []string{"range \x00a z"}, "range [] invalid key: range bound \"\\x00a\" is a composite key"},
		{"inverted range", false, []string{"range z a"}, "range [] invalid argument: empty range [\"z\", \"a\")"},
		{"empty key", false, []string{"get "}, "get  = \"\" - invalid key: empty key"},
		{"too many events", false, events, "event 64 set event \"64\": limit reached: a call may set at most 64 events"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			call := call("script", c.ops...)
			call.ReadOnly = c.readOnly
			res, err := rt.Invoke(ctx, m, call, st)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(res.Response.Payload), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, c.want) {
				t.Fatalf("got  %q\nwant %q", last, c.want)
			}
		})
	}
}

// TestRangePagesMerge checks a range longer than the SDK's page is one
// range read in the read set, and that a scan the contract stops early is
// recorded as not exhausted.
func TestRangePagesMerge(t *testing.T) {
	ctx := context.Background()
	rt, m := loadMisbehave(t, vm.Options{})
	st := vmtest.NewMemState()
	for i := range 600 {
		st.Put("misbehave", fmt.Sprintf("k%04d", i), []byte("v"), 1, uint64(i))
	}
	res, err := rt.Invoke(ctx, m, call("script", "range k k9"), st)
	if err != nil {
		t.Fatal(err)
	}
	rr := res.RWSet.NsRwsets[0].RangeReads
	if len(rr) != 1 || len(rr[0].Reads) != 600 || !rr[0].Exhausted || rr[0].StartKey != "k" || rr[0].EndKey != "k9" {
		t.Fatalf("range reads: %d ranges, first with %d reads", len(rr), len(rr[0].Reads))
	}
	if err := types.ValidateReadWriteSet(res.RWSet); err != nil {
		t.Fatal(err)
	}
}

// failingState fails every call after the first n.
type failingState struct {
	vm.State
	err error
}

func (f failingState) Get(ns, key string) ([]byte, *foliov1.Version, error) { return nil, nil, f.err }

func TestStateErrorAbortsCall(t *testing.T) {
	ctx := context.Background()
	rt, m := loadMisbehave(t, vm.Options{})
	disk := errors.New("disk on fire")
	before := rt.Stats()
	_, err := rt.Invoke(ctx, m, call("script", "get a", "put b 1"), failingState{State: vmtest.NewMemState(), err: disk})
	if !errors.Is(err, vm.ErrState) || !errors.Is(err, disk) || !strings.Contains(err.Error(), `get "a": disk on fire`) {
		t.Fatalf("state failure: %v", err)
	}
	if d := rt.Stats().Discards - before.Discards; d != 1 {
		t.Errorf("%d instances discarded", d)
	}
	if _, err := rt.Invoke(ctx, m, call("echo"), vmtest.NewMemState()); err != nil {
		t.Fatal(err)
	}
}

// TestDeterminism runs the same calls on fresh instances, on pooled
// instances that ran other calls first, and on another Runtime, and
// requires byte-identical results.
func TestDeterminism(t *testing.T) {
	ctx := context.Background()
	misbehave := vmtest.BuildWasm(t, testdataPkg+"misbehave")
	copyright := vmtest.BuildWasm(t, "github.com/folio-ledger/folio/contracts/copyright/cmd/copyright")

	st := vmtest.NewMemState()
	st.Put("copyright", "\x00work\x00W1\x00", []byte(`{"id":"W1","title":"T","author":"A","owner":"alice@Org1","type":"text","content_hash":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","registered_at":"2025-01-01T00:00:00Z","registered_by":"alice@Org1","action":"register","updated_by":"alice@Org1","updated_at":"2025-01-01T00:00:00Z"}`), 4, 1)
	st.Put("copyright", "\x00owner~id\x00alice@Org1\x00W1\x00", []byte{0}, 4, 1)
	st.Put("misbehave", "a", []byte("1"), 1, 0)

	calls := []struct {
		name string
		wasm []byte
		call abi.Call
	}{
		{"copyright", copyright, call("register", `{"id":"W2","title":"Second","author":"Ada","type":"audio","content_hash":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}`)},
		{"copyright", copyright, call("transfer", `{"id":"W1","to":"bob@Org2"}`)},
		{"copyright", copyright, call("list", `{"owner":"alice@Org1"}`)},
		{"misbehave", misbehave, call("env")},
		{"misbehave", misbehave, call("script", "get a", "put b 2", "range a z", "event e x")},
	}
	encode := func(res *vm.Result) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(res.Action())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fresh := newRuntime(t, vm.Options{PoolSize: -1, ChannelOrgs: vmtest.SharedOrgs})
	pooled := newRuntime(t, vm.Options{PoolSize: 1, ChannelOrgs: vmtest.SharedOrgs})
	for _, c := range calls {
		mf, err := fresh.Load(ctx, c.name, "1", c.wasm)
		if err != nil {
			t.Fatal(err)
		}
		mp, err := pooled.Load(ctx, c.name, "1", c.wasm)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fresh.Invoke(ctx, mf, c.call, st)
		if err != nil {
			t.Fatal(err)
		}
		want := encode(res)
		if res.Response.Status != 200 {
			t.Fatalf("%s: %d %s", c.call.Function, res.Response.Status, res.Response.Message)
		}
		for i := range 3 {
			// Other calls first, so the pooled instance's heap, clocks and
			// random stream have moved on.
			for j := range 5 {
				other := c.call
				other.TxID = fmt.Sprintf("other-%d-%d", i, j)
				other.Timestamp = other.Timestamp.Add(-1e9 * 3600)
				if _, err := pooled.Invoke(ctx, mp, other, st); err != nil {
					t.Fatal(err)
				}
			}
			res, err := pooled.Invoke(ctx, mp, c.call, st)
			if err != nil {
				t.Fatal(err)
			}
			if got := encode(res); !bytes.Equal(got, want) {
				t.Fatalf("%s on a pooled instance differs from a fresh one:\n%v\n%v", c.call.Function, res.Action(), want)
			}
		}
		if fresh.Stats().PoolHits != 0 {
			t.Fatal("fresh runtime reused an instance")
		}
		mf.Close(ctx)
		mp.Close(ctx)
	}
	if pooled.Stats().PoolHits == 0 {
		t.Fatal("pooled runtime never reused an instance")
	}
}
