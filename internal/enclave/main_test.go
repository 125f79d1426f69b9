package enclave_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

// The process-mode tests re-execute this test binary as the enclave
// process: TestMain recognises the environment variable and serves, as
// `folio enclave` does, instead of running tests.
const childEnv = "FOLIO_ENCLAVE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serveAsChild())
	}
	vmtest.Main(m)
}

func serveAsChild() int {
	opts, err := enclavetest.ServeOptions(os.Args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if os.Getenv("FOLIO_ENCLAVE_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	conn, err := trusted.HostConn()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := trusted.Serve(context.Background(), conn, opts); err != nil {
		fmt.Fprintln(os.Stderr, "enclave:", err)
		return 1
	}
	return 0
}

const kvPkg = "github.com/folio-ledger/folio/internal/enclave/testdata/kv"
const misbehavePkg = "github.com/folio-ledger/folio/internal/enclave/vm/testdata/misbehave"

type mode string

const (
	inProcess mode = "inprocess"
	process   mode = "process"
)

var modes = []mode{inProcess, process}

func testLogger() *slog.Logger {
	if os.Getenv("FOLIO_ENCLAVE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// consortium is the trust anchor of the tests' enclaves (one for the test
// binary: making CAs and a genesis block takes milliseconds, and the tests
// that need another anchor make their own).
var consortium = sync.OnceValues(func() (*enclavetest.Consortium, error) { return enclavetest.NewConsortium(2) })

func testConsortium(t testing.TB) *enclavetest.Consortium {
	t.Helper()
	c, err := consortium()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newEnclave starts an Enclave in mode m; stateKey, if not nil, is
// provisioned (through a key file in process mode). Its trust anchor is
// opts.Genesis if set (in either mode), else testConsortium's.
func newEnclave(t testing.TB, m mode, opts enclave.Options, stateKey []byte) enclave.Enclave {
	t.Helper()
	ctx := context.Background()
	if opts.Genesis == nil {
		opts.Genesis = testConsortium(t).Genesis
	}
	opts.VM.CacheDir = vmtest.CacheDir(t)
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	var e enclave.Enclave
	var err error
	switch m {
	case inProcess:
		opts.StateKey = stateKey
		e, err = enclave.NewInProcess(ctx, opts)
	case process:
		f := filepath.Join(t.TempDir(), "genesis.block")
		if err := os.WriteFile(f, opts.Genesis, 0o644); err != nil {
			t.Fatal(err)
		}
		opts.Genesis, opts.GenesisFile = nil, f
		if stateKey != nil {
			f := filepath.Join(t.TempDir(), "state.key")
			if err := os.WriteFile(f, stateKey, 0o600); err != nil {
				t.Fatal(err)
			}
			opts.StateKeyFile = f
		}
		opts.Exe = os.Args[0]
		opts.Args = []string{"enclave-test-child"}
		opts.Env = append(opts.Env, childEnv+"=1")
		e, err = enclave.New(ctx, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func install(t testing.TB, e enclave.Enclave, name, pkg string, confidential bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := e.Install(ctx, signed(t, name, "1", vmtest.BuildWasm(t, pkg), confidential)); err != nil {
		t.Fatal(err)
	}
}

// signed is the Module of wasm packaged by testConsortium's admin, the
// same package every time for the same arguments (as a peer keeps one
// package per version), so installing it again is a no-op.
func signed(t testing.TB, name, version string, wasm []byte, confidential bool) enclave.Module {
	t.Helper()
	k := fmt.Sprintf("%s\x00%s\x00%x\x00%v", name, version, sha256.Sum256(wasm), confidential)
	if m, ok := signedModules.Load(k); ok {
		return m.(enclave.Module)
	}
	m, err := testConsortium(t).Module(name, version, wasm, confidential)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := signedModules.LoadOrStore(k, m)
	return got.(enclave.Module)
}

var signedModules sync.Map

var txSeq atomic.Int64

func call(fn string, args ...string) abi.Call {
	c := abi.Call{TxID: fmt.Sprintf("tx-%d-%d", os.Getpid(), txSeq.Add(1)), Timestamp: time.Unix(1_700_000_000, 0), ChannelID: "ch",
		Function: fn, Creator: abi.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "alice", Role: "client"}}
	for _, a := range args {
		c.Args = append(c.Args, []byte(a))
	}
	return c
}

// read is what the kv contract reports per key.
type read struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Found bool   `json:"found"`
	Block uint64 `json:"block"`
	Tx    uint64 `json:"tx"`
}

func vmtest_BuildWasm(t testing.TB, pkg string) []byte { return vmtest.BuildWasm(t, pkg) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// withNS names the contract a call is for (its namespace).
func withNS(name string, c abi.Call) abi.Call {
	c.Namespace = name
	return c
}

func simulate(t testing.TB, e enclave.Enclave, name string, c abi.Call) *vm.Result {
	t.Helper()
	res, err := e.Simulate(context.Background(), "1", withNS(name, c))
	if err != nil {
		t.Fatal(err)
	}
	if res.Response.Status != 200 {
		t.Fatalf("%s: status %d %s", c.Function, res.Response.Status, res.Response.Message)
	}
	return res
}

func getReads(t testing.TB, res *vm.Result) []read {
	t.Helper()
	var rs []read
	if err := json.Unmarshal(res.Response.Payload, &rs); err != nil {
		t.Fatalf("payload %q: %v", res.Response.Payload, err)
	}
	return rs
}

// commit applies writes to the state as the next block and pushes them.
func commit(t testing.TB, st *enclavetest.VersionedState, e enclave.Enclave, writes ...enclave.Write) uint64 {
	t.Helper()
	b := st.Commit(writes)
	if err := e.Commit(context.Background(), b, writes); err != nil {
		t.Fatal(err)
	}
	return b
}

func put(ns, key, value string, tx uint64) enclave.Write {
	return enclave.Write{Namespace: ns, Key: key, Value: []byte(value), Tx: tx}
}

// writesOf turns a result's write set into committed writes of tx.
func writesOf(res *vm.Result, tx uint64) []enclave.Write {
	var ws []enclave.Write
	for _, ns := range res.RWSet.GetNsRwsets() {
		for _, w := range ns.Writes {
			ws = append(ws, enclave.Write{Namespace: ns.Namespace, Key: w.Key, Value: w.Value, Delete: w.IsDelete, Tx: tx})
		}
	}
	return ws
}

func versionOf(v *foliov1.Version) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%d.%d", v.BlockNum, v.TxNum)
}
