package enclave_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// TestMetrics: the metrics carry Stats, and StatsFromMetrics (what `folio
// peer stats` uses) reads them back from the text a peer serves, with a
// node's constant labels.
func TestMetrics(t *testing.T) {
	st := enclavetest.NewVersionedState()
	st.Commit([]enclave.Write{put("kv", "a", "1", 0)})
	reg := prometheus.NewRegistry()
	e := newEnclave(t, inProcess, enclave.Options{State: st,
		Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"node": "peer0.org1"}, reg)}, nil)
	install(t, e, "kv", kvPkg, false)
	for i := 0; i < 3; i++ {
		wantValue(t, e, "a", "1")
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := enclave.StatsFromMetrics(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := e.Stats()
	if got.PID != want.PID || got.Crossings != want.Crossings || got.Internal != want.Internal || got.External != want.External ||
		got.StateReads != want.StateReads || got.BytesSealed != want.BytesSealed || got.BytesUnsealed != want.BytesUnsealed ||
		got.DirectoryEntries != want.DirectoryEntries || got.VMCalls != want.VMCalls || got.VMCalls == 0 {
		t.Fatalf("from metrics %+v\nwant %+v", got, want)
	}
	if got.EcallLatency.Count != want.EcallLatency.Count || got.EcallLatency.P50US <= 0 {
		t.Fatalf("ecall latency from metrics %+v, stats %+v", got.EcallLatency, want.EcallLatency)
	}
	if _, err := enclave.StatsFromMetrics(bytes.NewBufferString("# nothing here\n")); err == nil {
		t.Fatal("metrics without an enclave accepted")
	}
}

// TestChildRejectsGarbage: an enclave process fed frames that are not the
// protocol answers errors or stops; it never panics.
func TestChildRejectsGarbage(t *testing.T) {
	for name, frames := range map[string][][]byte{
		"ecall before init": {frame(wire.KindEcall, wire.OpSimulate, 1, []byte{1, 2, 3})},
		"bad init":          {frame(wire.KindEcall, wire.OpInit, 1, []byte{0xff})},
		"unknown kind":      {append([]byte{0, 0, 0, 10, 9, 0}, make([]byte, 8)...)},
		"huge length":       {{0xff, 0xff, 0xff, 0xff}},
	} {
		t.Run(name, func(t *testing.T) {
			host, child := net.Pipe()
			done := make(chan error, 1)
			go func() { done <- enclave.ServeChild(context.Background(), child, enclave.ChildOptions{}) }()
			go func() { // drain replies
				for {
					if _, err := wire.ReadFrame(host); err != nil {
						return
					}
				}
			}()
			for _, f := range frames {
				host.SetWriteDeadline(time.Now().Add(5 * time.Second))
				host.Write(f)
			}
			host.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("ServeChild did not return")
			}
		})
	}
}

func frame(kind, op uint8, id uint64, payload []byte) []byte {
	f, _ := wire.Finish(append(wire.Begin(nil, kind, op, id), payload...))
	return f
}
