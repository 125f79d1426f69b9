package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/config"
)

// ErrPortInUse means a listen address is held by another process.
var ErrPortInUse = errors.New("address already in use")

// listen opens a TCP listener, turning "address in use" into an error that
// names the config field and the fix.
func listen(field, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s %s: %w by another process: stop that process or choose another port", field, addr, ErrPortInUse)
		}
		return nil, fmt.Errorf("%s %s: %w", field, addr, err)
	}
	return ln, nil
}

// readiness collects the reasons a node is not ready yet; it is ready when
// there are none. Safe for concurrent use.
type readiness struct {
	mu      sync.Mutex
	reasons map[string]string // check name -> why it is not satisfied
	// first is closed the first time no reason remains.
	first  chan struct{}
	closed bool
}

func newReadiness() *readiness {
	return &readiness{reasons: map[string]string{}, first: make(chan struct{})}
}

// set records the outcome of one check; a nil error satisfies it.
func (r *readiness) set(check string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.reasons, check)
	} else {
		r.reasons[check] = err.Error()
	}
	if len(r.reasons) == 0 && !r.closed {
		r.closed = true
		close(r.first)
	}
}

func (r *readiness) status() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reasons) == 0 {
		return true, ""
	}
	var parts []string
	for k, v := range r.reasons {
		parts = append(parts, k+": "+v)
	}
	sort.Strings(parts)
	return false, strings.Join(parts, "; ")
}

// infoService answers NodeService.GetInfo from a snapshot function.
type infoService struct {
	info func() *foliov1.NodeInfo
}

var _ foliov1connect.NodeServiceHandler = infoService{}

func (s infoService) GetInfo(context.Context, *connect.Request[foliov1.GetInfoRequest]) (*connect.Response[foliov1.NodeInfo], error) {
	return connect.NewResponse(s.info()), nil
}

// apiMux builds the route every node serves on its API listener:
// NodeService.
func apiMux(info func() *foliov1.NodeInfo, opts connect.HandlerOption) *http.ServeMux {
	mux := http.NewServeMux()
	path, h := foliov1connect.NewNodeServiceHandler(infoService{info: info}, opts)
	mux.Handle(path, h)
	return mux
}

// operationsMux builds the operations routes: health, readiness, metrics
// and profiling, for operators and `folio bench` (never for clients: they
// are on their own listener, see serveOperations).
func operationsMux(ready *readiness, m *metrics) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := ready.status()
		if !ok {
			m.ready.Set(0)
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		m.ready.Set(1)
		w.Write([]byte("ready\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}

// isLoopback reports whether a listen address binds only the loopback
// interface (an empty host binds every interface).
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// operations is an operations listener ready to serve.
type operations struct {
	ln      net.Listener
	handler http.Handler
	tls     *tls.Config // nil: plain HTTP on loopback
}

// openOperations opens the operations listener. On loopback it serves
// plain HTTP to the tools beside the node (Prometheus, `folio bench`,
// `folio peer stats`); anywhere else only mutual TLS with a client
// certificate that admin accepts (an admin of a consortium organisation),
// as on loopback too with listen.operations_tls.
func openOperations(file string, l config.Listen, cert func(*tls.ClientHelloInfo) (*tls.Certificate, error), admin func(*x509.Certificate) error, ready *readiness, m *metrics, log *slog.Logger) (*operations, error) {
	ln, err := listen("listen.operations", l.Operations)
	if err != nil {
		return nil, fieldErr(file, "listen.operations", err, "")
	}
	ops := &operations{ln: ln, handler: operationsMux(ready, m)}
	if isLoopback(l.Operations) && !l.OperationsTLS {
		return ops, nil
	}
	ops.tls = &tls.Config{GetCertificate: cert, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}
	next := ops.handler
	ops.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := errors.New("no client certificate: the operations listener serves admins over mutual TLS")
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			err = admin(r.TLS.PeerCertificates[0])
		}
		if err != nil {
			m.authRejected.WithLabelValues("operations_not_admin").Inc()
			log.Warn("operations caller refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", err)
			http.Error(w, "permission denied: "+err.Error(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
	return ops, nil
}

// serve runs the operations listener until ctx is done.
func (o *operations) serve(ctx context.Context, lim config.Limits, m *metrics, grace time.Duration, log *slog.Logger) error {
	return serve(ctx, o.ln, o.handler, o.tls, lim, m, grace, log)
}

// serve runs an HTTP server (HTTP/2 and HTTP/1.1; over TLS unless tlsConf
// is nil) on ln until ctx is done, then shuts it down within grace. The
// server enforces lim's connection, header, stream and idle limits;
// request bodies are bounded by the guard in front of the handler.
func serve(ctx context.Context, ln net.Listener, handler http.Handler, tlsConf *tls.Config, lim config.Limits, m *metrics, grace time.Duration, log *slog.Logger) error {
	ln = limitConns(ln, lim.MaxConnections, func() {
		m.limitRefusals.WithLabelValues(settingConnections).Inc()
		log.Debug("connection refused", "listener", ln.Addr().String(), "limit", settingConnections, "max", lim.MaxConnections)
	})
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: lim.HeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: lim.MaxConcurrentStreams,
			WriteByteTimeout:     lim.WriteTimeout,
			// A connection that answers no ping within this long is dead
			// or stalled; its streams are freed.
			SendPingTimeout: lim.IdleTimeout / 2,
			PingTimeout:     lim.WriteTimeout,
		},
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	if tlsConf == nil {
		// Plain HTTP/2 (h2c) too, for the local tools.
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = &p
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConf == nil {
			errc <- srv.Serve(ln)
		} else {
			errc <- srv.ServeTLS(ln, "", "")
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("graceful shutdown timed out; closing connections", "grace", grace, "err", err)
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func pid() int64 { return int64(os.Getpid()) }

// staticCert serves one certificate (a CA's operations listener, which
// has no reloader).
func staticCert(c tls.Certificate) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &c, nil }
}
