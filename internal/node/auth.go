package node

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/folio-ledger/folio/internal/identity"
)

type callerKey struct{}

// Caller returns the MSP-validated identity of the client that made the
// request, set by the authentication middleware.
func Caller(ctx context.Context) (*identity.Identity, bool) {
	id, ok := ctx.Value(callerKey{}).(*identity.Identity)
	return id, ok
}

// authenticate admits a request only if its TLS client certificate states
// the client-auth usage (a CA's TLS-only certificate does not) and is a
// valid consortium identity whose organisation's revocation list is
// current (identity.Verifier.Admit). TLS has already proved the client
// holds the certificate's key; the MSP decides whether the certificate
// counts, so a refusal can say exactly why (revoked, expired, unknown
// organisation, wrong usage) instead of failing the TLS handshake with an
// opaque alert.
func authenticate(v *identity.Verifier, m *metrics, log *slog.Logger, next http.Handler) http.Handler {
	errw := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		var id *identity.Identity
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			err = errors.New("no client certificate: connect with a certificate issued by a consortium CA")
		} else if err = identity.CheckExtKeyUsage(r.TLS.PeerCertificates[0], x509.ExtKeyUsageClientAuth); err == nil {
			// RequireAnyClientCert leaves usages to us: a certificate
			// issued only to serve TLS is no client's.
			id, err = v.Identify(r.TLS.PeerCertificates[0])
			if err == nil {
				err = v.Admit(id)
			}
		}
		if err != nil {
			reason := "invalid"
			for _, c := range []struct {
				err  error
				name string
			}{{identity.ErrRevoked, "revoked"}, {identity.ErrExpired, "expired"}, {identity.ErrUnknownMSP, "unknown_org"}, {identity.ErrNotIssuedByOrg, "wrong_issuer"}, {identity.ErrCRLStale, "crl_stale"},
				{identity.ErrKeyUsage, "key_usage"}, {identity.ErrNoRole, "no_role"}, {identity.ErrServerUsage, "server_certificate"}} {
				if errors.Is(err, c.err) {
					reason = c.name
				}
			}
			m.authRejected.WithLabelValues(reason).Inc()
			log.Warn("caller refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", err)
			if errw.IsSupported(r) {
				_ = errw.Write(w, r, connect.NewError(connect.CodePermissionDenied, err))
				return
			}
			http.Error(w, "permission denied: "+err.Error(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, id)))
	})
}
