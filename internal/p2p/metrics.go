package p2p

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one host's collectors. They are registered on the
// Registerer passed in Options, never on the global registry.
type metrics struct {
	sessions          prometheus.Gauge
	connections       prometheus.Gauge
	duplicates        prometheus.Counter
	handshakes        *prometheus.CounterVec
	revoked           prometheus.Counter
	handshakeFailures *prometheus.CounterVec
	dials             *prometheus.CounterVec
	streams           *prometheus.CounterVec
	bytes             *prometheus.CounterVec
	refused           *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_p2p_sessions", Help: "Nodes with an active session.",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_p2p_connections", Help: "Registered connections, duplicates being resolved included.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "folio_p2p_duplicates_resolved_total", Help: "Duplicate connections closed by the tie-break.",
		}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_p2p_handshakes_total", Help: "Completed handshakes, by direction (inbound, outbound).",
		}, []string{"direction"}),
		revoked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "folio_p2p_sessions_revoked_total", Help: "Sessions closed because the peer's certificate stopped being valid (revoked, expired).",
		}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_p2p_handshake_failures_total", Help: "Connections refused before or during the handshake, by reason.",
		}, []string{"reason"}),
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_p2p_dials_total", Help: "Dial attempts, by result (ok, failed).",
		}, []string{"result"}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_p2p_streams_total", Help: "Streams opened, by protocol and direction (in, out).",
		}, []string{"protocol", "direction"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_p2p_stream_bytes_total", Help: "Stream payload bytes, by protocol and direction (in, out).",
		}, []string{"protocol", "direction"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_p2p_refused_total", Help: "Streams, messages, connections and sessions refused or cut because a limit was reached, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range refusedReasons {
		m.refused.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sessions, m.connections, m.duplicates, m.handshakes, m.revoked, m.handshakeFailures, m.dials, m.streams, m.bytes, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("p2p metrics: %w", err)
		}
	}
	return m, nil
}
