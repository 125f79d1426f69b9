package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
	"github.com/folio-ledger/folio/internal/version"
)

// CAOptions builds an organisation's CA service.
type CAOptions struct {
	Config     *config.CA
	ConfigFile string
	Logger     *slog.Logger
	Ready      func(addr string)
	// OperationsOpen, if set, is called with the operations listener's
	// address once it is open.
	OperationsOpen func(addr string)
}

// RunCA serves an organisation's CA until ctx is done.
//
// Unlike peers and orderers, the CA does not require a client certificate:
// a user who has not enrolled yet has none. Enrolment is authenticated by
// the one-time secret, admin operations by their signatures (see package ca).
func RunCA(ctx context.Context, opts CAOptions) error {
	cfg, file, log := opts.Config, opts.ConfigFile, opts.Logger
	if cfg == nil || log == nil {
		return errors.New("ca: Config and Logger are required")
	}
	started := time.Now()
	auth, err := ca.Open(cfg.Home, nil)
	if err != nil {
		return fieldErr(file, "home", err, "point it at the CA's directory")
	}
	if err := auth.SetCRLValidity(cfg.CRLValidity); err != nil {
		return fieldErr(file, "crl_validity", err, "")
	}
	org, mspID := auth.Org()
	if org != cfg.Org || mspID != cfg.MSPID {
		return fieldErr(file, "msp_id", fmt.Errorf("the CA in %s belongs to %s (%s), not %s (%s)", cfg.Home, org, mspID, cfg.Org, cfg.MSPID), "")
	}
	tlsCert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return fieldErr(file, "tls", err, "")
	}
	if tlsCert.Leaf == nil { // GODEBUG=x509keypairleaf=0
		if tlsCert.Leaf, err = x509.ParseCertificate(tlsCert.Certificate[0]); err != nil {
			return fieldErr(file, "tls.cert", err, "")
		}
	}
	// The CA's TLS key sits on a network-facing host: its certificate must
	// be TLS-only, never an identity of the organisation (issue 18).
	if err := ca.CheckServerTLS(tlsCert.Leaf); err != nil {
		return fieldErr(file, "tls.cert", err, "stop the CA and run 'folio ca renew-tls --home "+cfg.Home+"', or regenerate the network")
	}
	svc, err := ca.NewService(auth, log.With("ca", cfg.Name), nil)
	if err != nil {
		return err
	}
	ln, err := listen("listen.api", cfg.Listen.API)
	if err != nil {
		return fieldErr(file, "listen.api", err, "")
	}
	log = log.With("node", cfg.Name)
	m := newMetrics(cfg.Name, config.RoleCA, cfg.Org)
	ready := newReadiness()
	v := version.Get()
	info := func() *foliov1.NodeInfo {
		return &foliov1.NodeInfo{Name: cfg.Name, Role: config.RoleCA, Org: cfg.Org, MspId: cfg.MSPID,
			Version: v.Version, Commit: v.Commit, StartedAtUnixNano: started.UnixNano(), Pid: pid(), Ready: true}
	}
	// The CA's callers have no identity yet (they come to enrol): its
	// per-client bound is per IP address.
	g := newGuard(cfg.Limits, m, log, nil, remoteIP)
	opt := handlerOptions(m, g)
	mux := apiMux(info, opt)
	path, h := foliov1connect.NewCAServiceHandler(svc, opt)
	mux.Handle(path, h)
	// The operations listener off loopback serves the organisation's own
	// admins: the CA knows no other organisation.
	own, err := identity.NewVerifier([]identity.Org{{Name: org, MSPID: mspID, Root: auth.Certificate()}}, nil)
	if err != nil {
		return err
	}
	ops, err := openOperations(file, cfg.Listen, staticCert(tlsCert), adminOf(own), ready, m, log)
	if err != nil {
		ln.Close()
		return err
	}
	if opts.OperationsOpen != nil {
		opts.OperationsOpen(ops.ln.Addr().String())
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12}
	log.Info("CA started", "org", cfg.Org, "api", ln.Addr().String(), "operations", ops.ln.Addr().String(), "version", v.Version)
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}
	opsErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		err := ops.serve(ctx, cfg.Limits, m, cfg.ShutdownGrace, log)
		if err != nil {
			cancel() // a CA without its operations listener stops, and says why
		}
		opsErr <- err
	}()
	err = serve(ctx, ln, g.wrap(mux), tlsConf, cfg.Limits, m, cfg.ShutdownGrace, log)
	cancel()
	if oerr := <-opsErr; err == nil && oerr != nil {
		err = fmt.Errorf("operations listener: %w", oerr)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Name, err)
	}
	log.Info("CA stopped")
	return nil
}
