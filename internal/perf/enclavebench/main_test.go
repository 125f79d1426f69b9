package enclavebench

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"testing"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

const childEnv = "FOLIO_ENCLAVEBENCH_CHILD"

// TestMain serves as the enclave process when re-executed by the
// benchmarks (the `folio enclave` command does the same).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serveChild())
	}
	vmtest.Main(m)
}

// serveChild is the enclave process's body; it returns the exit code.
func serveChild() int {
	// FOLIO_ENCLAVEBENCH_CHILD_CPUPROFILE=PREFIX writes the enclave
	// process's CPU profile to PREFIX.PID: profiling the benchmark binary
	// with -cpuprofile sees only the host side.
	if prefix := os.Getenv(childEnv + "_CPUPROFILE"); prefix != "" {
		if f, err := os.Create(fmt.Sprintf("%s.%d", prefix, os.Getpid())); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	opts, err := enclavetest.ServeOptions(os.Args)
	var conn net.Conn
	if err == nil {
		conn, err = trusted.HostConn()
	}
	if err == nil {
		err = trusted.Serve(context.Background(), conn, opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childOptions makes the enclave process this test binary.
func childOptions(tb testing.TB) enclave.Options {
	var o enclave.Options
	o.Exe = os.Args[0]
	o.Args = []string{"enclave-child"}
	o.Env = []string{childEnv + "=1"}
	o.VM.CacheDir = vmtest.CacheDir(tb)
	return o
}

func copyrightWasm(tb testing.TB) []byte {
	return vmtest.BuildWasm(tb, "github.com/folio-ledger/folio/contracts/copyright/cmd/copyright")
}

// memStore is a Store in memory, for tests of the benchmark's machinery.
type memStore struct{ *enclavetest.VersionedState }

func (s memStore) Load(n, perBlock int, key func(int) string, value func(int) []byte) error {
	for i := 0; i < n; i += perBlock {
		var ws []enclave.Write
		for j := i; j < min(n, i+perBlock); j++ {
			ws = append(ws, enclave.Write{Namespace: Namespace, Key: key(j), Value: value(j)})
		}
		s.Commit(ws)
	}
	return nil
}

func (s memStore) CommitBlock(_ []string, txs [][]enclave.Write) (uint64, error) {
	var all []enclave.Write
	for _, ws := range txs {
		all = append(all, ws...)
	}
	return s.Commit(all), nil
}

func (s memStore) Current(ns, key string) (*foliov1.Version, error) {
	_, v := s.ValueAt(ns, key, s.Height())
	return v, nil
}

func (s memStore) Close() error { return nil }
