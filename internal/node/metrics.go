package node

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/folio-ledger/folio/internal/version"
)

// metrics are one node's Prometheus collectors, registered on a registry of
// the node's own (no global registry, so tests can run several nodes).
type metrics struct {
	registry     *prometheus.Registry
	rpcs         *prometheus.CounterVec
	rpcSeconds   *prometheus.HistogramVec
	authRejected *prometheus.CounterVec
	ready        prometheus.Gauge
	crlUpdates   *prometheus.CounterVec
	// limitRefusals counts requests and connections refused by a limit,
	// by the setting that raises it (docs/configuration.md, "Limits").
	limitRefusals *prometheus.CounterVec
	// crlStale is 1 for each organisation whose revocation list is past
	// its NextUpdate, so that its identities are refused at admission.
	crlStale *prometheus.GaugeVec
}

func newMetrics(name, role, org string) *metrics {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"node": name, "role": role, "org": org}
	m := &metrics{
		registry: reg,
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_rpc_requests_total", Help: "RPCs served, by procedure and result code.", ConstLabels: labels,
		}, []string{"procedure", "code"}),
		rpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "folio_rpc_duration_seconds", Help: "RPC latency by procedure.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"procedure"}),
		authRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_auth_rejections_total", Help: "Callers refused by the MSP, by reason.", ConstLabels: labels,
		}, []string{"reason"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_node_ready", Help: "1 when the node is ready to serve.", ConstLabels: labels,
		}),
		crlUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_crl_fetches_total", Help: "Revocation list fetches from CAs, by organisation and result.", ConstLabels: labels,
		}, []string{"msp_id", "result"}),
		limitRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_limit_refusals_total", Help: "Requests, streams and connections refused by a limit, by the setting that raises it.", ConstLabels: labels,
		}, []string{"limit"}),
		crlStale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "folio_crl_stale", Help: "1 while an organisation's revocation list is past its NextUpdate (its identities are refused at admission).", ConstLabels: labels,
		}, []string{"msp_id"}),
	}
	v := version.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "folio_build_info", Help: "Build information; always 1.",
		ConstLabels: prometheus.Labels{"node": name, "version": v.Version, "commit": v.Commit, "go_version": v.GoVersion},
	})
	build.Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.rpcs, m.rpcSeconds, m.authRejected, m.ready, m.crlUpdates, m.limitRefusals, m.crlStale, build)
	return m
}

// handlerOptions are the options of every RPC handler: the metrics
// interceptor; the message limit, after decompression (g.gzipOptions);
// and gzip only for large responses — compressing the small messages of
// the transaction path (proposals, endorsements, statuses) cost a peer
// several percent of its CPU for a few hundred bytes saved.
func handlerOptions(m *metrics, g *guard) connect.HandlerOption {
	return connect.WithHandlerOptions(connect.WithInterceptors(m.interceptor()), connect.WithCompressMinBytes(compressMinBytes),
		connect.WithReadMaxBytes(g.lim.MaxMessageBytes), g.gzipOptions())
}

// compressMinBytes is the smallest response a handler compresses.
const compressMinBytes = 16 << 10

// interceptor records every RPC's result code and latency.
func (m *metrics) interceptor() connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			start := time.Now()
			resp, err := next(ctx, req)
			code := "ok"
			var ce *connect.Error
			if errors.As(err, &ce) {
				code = ce.Code().String()
			} else if err != nil {
				code = connect.CodeUnknown.String()
			}
			proc := req.Spec().Procedure
			m.rpcs.WithLabelValues(proc, code).Inc()
			m.rpcSeconds.WithLabelValues(proc).Observe(time.Since(start).Seconds())
			return resp, err
		}
	})
}
