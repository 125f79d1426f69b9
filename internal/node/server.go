package node

import (
	"context"
	"crypto/tls"
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

// baseMux builds the routes every node serves: NodeService, health,
// readiness and metrics.
func baseMux(info func() *foliov1.NodeInfo, ready *readiness, m *metrics) *http.ServeMux {
	mux := http.NewServeMux()
	path, h := foliov1connect.NewNodeServiceHandler(infoService{info: info}, handlerOptions(m))
	mux.Handle(path, h)
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
	// Profiling for operators and `folio bench`; behind the same mutual TLS
	// and MSP check as everything else on this listener.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}

// serve runs an HTTPS server (HTTP/2 and HTTP/1.1) on ln until ctx is done,
// then shuts it down within grace.
func serve(ctx context.Context, ln net.Listener, handler http.Handler, tlsConf *tls.Config, grace time.Duration, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
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
