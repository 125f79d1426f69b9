package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/version"
)

// Options builds a peer or orderer.
type Options struct {
	// Config is the parsed, validated node configuration.
	Config *config.Node
	// ConfigFile is the file Config came from, named in error messages.
	ConfigFile string
	// Logger receives the node's structured logs. Required.
	Logger *slog.Logger
	// Ready, if set, is called once the node is listening and ready.
	Ready func(addr string)
}

// Run starts a peer or orderer and blocks until ctx is done. Start-up
// problems (bad identity files, a port in use) are returned before anything
// is served.
func Run(ctx context.Context, opts Options) error {
	cfg, file, log := opts.Config, opts.ConfigFile, opts.Logger
	if cfg == nil || log == nil {
		return errors.New("node: Config and Logger are required")
	}
	started := time.Now()
	verifier, err := loadVerifier(file, cfg)
	if err != nil {
		return err
	}
	self, tlsCert, err := loadNodeIdentity(file, cfg, verifier)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fieldErr(file, "data_dir", err, "make the directory writable by this user")
	}
	ln, err := listen("listen.api", cfg.Listen.API)
	if err != nil {
		return fieldErr(file, "listen.api", err, "")
	}
	log = log.With("node", cfg.Name)
	m := newMetrics(cfg.Name, cfg.Role, cfg.Org)
	ready := newReadiness()
	ready.set("revocation lists", errors.New("first fetch from the CAs not finished"))

	v := version.Get()
	info := func() *foliov1.NodeInfo {
		ok, why := ready.status()
		return &foliov1.NodeInfo{
			Name: cfg.Name, Role: cfg.Role, Org: cfg.Org, MspId: cfg.MSPID, NodeId: self.ID(),
			Version: v.Version, Commit: v.Commit, StartedAtUnixNano: started.UnixNano(), Pid: pid(),
			Ready: ok, NotReadyReason: why,
		}
	}
	mux := baseMux(info, ready, m)
	tlsConf := &tls.Config{
		Certificates: []tls.Certificate{tlsCert},
		// The MSP, not the TLS stack, judges the client certificate (see
		// authenticate); TLS still proves the client holds its key.
		ClientAuth: tls.RequireAnyClientCert,
		MinVersion: tls.VersionTLS13,
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		var once sync.Once
		pollCRLs(ctx, cfg, verifier, m, log, func() {
			once.Do(func() { ready.set("revocation lists", nil) })
		})
	}()

	log.Info("node started", "role", cfg.Role, "org", cfg.Org, "node_id", self.ID(), "api", ln.Addr().String(), "version", v.Version)
	if opts.Ready != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ready.first:
				opts.Ready(ln.Addr().String())
			case <-ctx.Done():
			}
		}()
	}
	err = serve(ctx, ln, authenticate(verifier, m, log, mux), tlsConf, cfg.ShutdownGrace, log)
	cancel()
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Name, err)
	}
	log.Info("node stopped")
	return nil
}
