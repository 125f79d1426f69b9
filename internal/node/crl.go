package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/identity"
)

// pollCRLs fetches every organisation's revocation list from its CA at a
// fixed interval until ctx is done, so a revocation reaches this node within
// one interval. It is owned by Run. A CA that cannot be reached leaves the
// last list in force and is logged once per outage; once that list is past
// its NextUpdate the organisation's identities are refused at admission
// until a fresh one arrives (identity.Verifier.Admit).
func pollCRLs(ctx context.Context, cfg *config.Node, v *identity.Verifier, m *metrics, log *slog.Logger, firstDone func()) {
	type source struct {
		org    config.OrgRef
		client foliov1connect.CAServiceClient
		down   bool
	}
	var sources []*source
	roots := map[string]*identity.Org{}
	for _, o := range v.Orgs() {
		roots[o.MSPID] = &o
	}
	for _, o := range cfg.Consortium {
		if o.CAAddress == "" || roots[o.MSPID] == nil {
			continue
		}
		sources = append(sources, &source{org: o, client: foliov1connect.NewCAServiceClient(caHTTPClient(roots[o.MSPID].Root), "https://"+o.CAAddress)})
		// From now on this organisation's identities need a current list
		// at admission (fail closed while its CA cannot be reached).
		if err := v.ExpectCRL(o.MSPID); err != nil {
			log.Warn("revocation list", "org", o.MSPID, "err", err)
		}
	}
	stale := map[string]bool{}
	fetchAll := func() {
		for _, s := range sources {
			err := fetchCRL(ctx, s.client, s.org.MSPID, v)
			switch {
			case err != nil && !s.down:
				s.down = true
				m.crlUpdates.WithLabelValues(s.org.MSPID, "error").Inc()
				log.Warn("cannot fetch revocation list; the last one stays in force", "org", s.org.MSPID, "ca", s.org.CAAddress, "err", err)
			case err != nil:
				m.crlUpdates.WithLabelValues(s.org.MSPID, "error").Inc()
			case s.down:
				s.down = false
				m.crlUpdates.WithLabelValues(s.org.MSPID, "ok").Inc()
				log.Info("revocation list fetched again", "org", s.org.MSPID)
			default:
				m.crlUpdates.WithLabelValues(s.org.MSPID, "ok").Inc()
			}
			switch err := v.CRLCurrent(s.org.MSPID); {
			case err != nil:
				m.crlStale.WithLabelValues(s.org.MSPID).Set(1)
				if !stale[s.org.MSPID] {
					stale[s.org.MSPID] = true
					log.Error("revocation list out of date: refusing the organisation's identities at admission", "org", s.org.MSPID, "ca", s.org.CAAddress, "why", err)
				}
			default:
				m.crlStale.WithLabelValues(s.org.MSPID).Set(0)
				if stale[s.org.MSPID] {
					delete(stale, s.org.MSPID)
					log.Info("revocation list current again: admitting the organisation's identities", "org", s.org.MSPID)
				}
			}
		}
	}
	fetchAll()
	firstDone()
	if cfg.CRLRefresh == 0 || len(sources) == 0 {
		return
	}
	t := time.NewTicker(cfg.CRLRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fetchAll()
		}
	}
}

// caHTTPClient returns the client a node fetches an organisation's
// revocation list with: it trusts only that organisation's root and wants
// a server certificate with the server-auth usage (the CA's TLS-only
// certificate), so no enrolled client or admin of the organisation can
// pose as its CA.
func caHTTPClient(root *x509.Certificate) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: certPool(root), MinVersion: tls.VersionTLS12, VerifyConnection: requireServerAuth},
		ForceAttemptHTTP2: true,
	}}
}

func fetchCRL(ctx context.Context, c foliov1connect.CAServiceClient, mspID string, v *identity.Verifier) error {
	resp, err := c.GetCAInfo(ctx, connect.NewRequest(&foliov1.GetCAInfoRequest{}))
	if err != nil {
		return err
	}
	if resp.Msg.MspId != mspID {
		return fmt.Errorf("CA answers for %s, expected %s", resp.Msg.MspId, mspID)
	}
	return v.UpdateCRL(mspID, resp.Msg.CrlDer)
}

// requireServerAuth refuses a server whose certificate lacks the
// server-auth usage (identity.RequireServerAuth).
func requireServerAuth(cs tls.ConnectionState) error {
	return identity.RequireServerAuth(cs.PeerCertificates)
}
