package enclave_test

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
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
