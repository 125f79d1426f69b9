package copyright_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/contract/contracttest"
	"github.com/folio-ledger/folio/contracts/copyright"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

// The scenarios run against two backends: the contract natively through
// contracttest, and the contract compiled to wasm through the real VM.
// Both see the same transaction IDs and timestamps, so their outcomes must
// be equal byte for byte (TestBackendsAgree).

const wasmPkg = "github.com/folio-ledger/folio/contracts/copyright/cmd/copyright"

// outcome is what a call did, in a form both backends can produce.
type outcome struct {
	Status  int32
	Message string
	Payload []byte
	// Writes lists written keys in order, deletes prefixed with "-".
	Writes []string
	Events []string
	// Block is where the call was committed, 0 if it was not.
	Block uint64
	TxID  string
}

type backend interface {
	call(t *testing.T, who contract.Identity, fn string, args [][]byte, readOnly bool) outcome
}

// clock gives both backends the same transaction IDs and timestamps.
type clock struct{ n int }

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func (c *clock) next() (string, time.Time) {
	c.n++
	sum := sha256.Sum256(fmt.Appendf(nil, "copyright-test-%d", c.n))
	return hex.EncodeToString(sum[:]), epoch.Add(time.Duration(c.n) * time.Minute)
}

type nativeBackend struct {
	clock
	l *contracttest.Ledger
	r *contract.Router
}

func newNative() *nativeBackend {
	l := contracttest.NewLedger("copyright")
	l.SetChannelOrgs(vmtest.SharedOrgs...) // as the wasm backend's VM
	return &nativeBackend{l: l, r: copyright.New()}
}

func (b *nativeBackend) call(t *testing.T, who contract.Identity, fn string, args [][]byte, readOnly bool) outcome {
	t.Helper()
	txID, ts := b.next()
	res := b.l.Invoke(b.r, contracttest.Call{Function: fn, Args: args, Creator: who, TxID: txID, Timestamp: ts, ReadOnly: readOnly})
	if res.Panicked {
		t.Fatalf("%s panicked: %s", fn, res.Response.Message)
	}
	o := outcome{Status: res.Response.Status, Message: res.Response.Message, Payload: res.Response.Payload, Block: res.Block, TxID: txID}
	for _, w := range res.Writes {
		o.Writes = append(o.Writes, writeName(w.Key, w.IsDelete))
	}
	for _, e := range res.Events {
		o.Events = append(o.Events, e.Name)
	}
	return o
}

type wasmBackend struct {
	clock
	h *vmtest.Harness
}

func newWasm(t testing.TB) *wasmBackend {
	return &wasmBackend{h: vmtest.Shared(t, "copyright", vmtest.BuildWasm(t, wasmPkg))}
}

func (b *wasmBackend) call(t *testing.T, who contract.Identity, fn string, args [][]byte, readOnly bool) outcome {
	t.Helper()
	txID, ts := b.next()
	res, block, err := b.h.Submit(abi.Call{
		TxID: txID, Timestamp: ts, ChannelID: "testchannel", Function: fn, Args: args, ReadOnly: readOnly,
		Creator: who,
	})
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	o := outcome{Status: res.Response.Status, Message: res.Response.Message, Payload: res.Response.Payload, Block: block, TxID: txID}
	for _, ns := range res.RWSet.NsRwsets {
		for _, w := range ns.Writes {
			o.Writes = append(o.Writes, writeName(w.Key, w.IsDelete))
		}
	}
	for _, e := range res.Events {
		o.Events = append(o.Events, e.Name)
	}
	return o
}

func writeName(key string, del bool) string {
	if del {
		return "-" + key
	}
	return key
}

// forBackends runs f as a subtest against each backend, fresh state each.
func forBackends(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("native", func(t *testing.T) { f(t, newNative()) })
	t.Run("wasm", func(t *testing.T) {
		if testing.Short() {
			t.Skip("wasm backend skipped in -short mode")
		}
		f(t, newWasm(t))
	})
}

// Identities of the scenarios.
var (
	alice  = contract.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "alice", Role: "client"}
	bob    = contract.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "bob", Role: "client"}
	admin1 = contract.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "admin", Role: "admin"}
	carol  = contract.Identity{MSPID: "Org2MSP", Org: "Org2", Name: "carol", Role: "client"}
	admin2 = contract.Identity{MSPID: "Org2MSP", Org: "Org2", Name: "admin", Role: "admin"}
)

const hashA = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func jsonArg(t *testing.T, v any) [][]byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{b}
}

func decode[T any](t *testing.T, o outcome) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(o.Payload, &v); err != nil {
		t.Fatalf("decode payload %q: %v", o.Payload, err)
	}
	return v
}

func want(t *testing.T, o outcome, status int32) {
	t.Helper()
	if o.Status != status {
		t.Fatalf("status %d (%s), want %d; payload %s", o.Status, o.Message, status, o.Payload)
	}
}

// wantError checks an error outcome: status, the structured payload's
// field, a message fragment, and that nothing was written or committed.
func wantError(t *testing.T, o outcome, status int32, field, fragment string) {
	t.Helper()
	want(t, o, status)
	var e contract.Error
	if err := json.Unmarshal(o.Payload, &e); err != nil {
		t.Fatalf("error payload %q: %v", o.Payload, err)
	}
	if e.Field != field {
		t.Errorf("error field %q, want %q (message %q)", e.Field, field, o.Message)
	}
	if e.Message != o.Message {
		t.Errorf("payload message %q != response message %q", e.Message, o.Message)
	}
	if !contains(o.Message, fragment) {
		t.Errorf("message %q does not mention %q", o.Message, fragment)
	}
	if len(o.Writes) != 0 || o.Block != 0 || len(o.Events) != 0 {
		t.Errorf("failed call wrote %v, events %v, committed in block %d", o.Writes, o.Events, o.Block)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func register(t *testing.T, b backend, who contract.Identity, a copyright.RegisterArgs) outcome {
	t.Helper()
	return b.call(t, who, copyright.FnRegister, jsonArg(t, a), false)
}

func work(id, author string) copyright.RegisterArgs {
	return copyright.RegisterArgs{ID: id, Title: "Title of " + id, Author: author, ContentHash: hashOf(id)}
}

// hashOf is a content hash of its own for each work ID: registering one
// hash twice is refused (content-hash priority).
func hashOf(id string) string {
	sum := sha256.Sum256([]byte("content of " + id))
	return "sha256:" + hex.EncodeToString(sum[:])
}
