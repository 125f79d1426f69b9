package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
)

// cookieName is the cookie /login sets: the hex SHA-256 of the token, so
// the token itself is never stored in the browser.
const cookieName = "folio_explorer"

// maxEvidenceCalls bounds concurrent Evidence hook calls.
const maxEvidenceCalls = 4

// Server serves the explorer's pages, API and event stream for one Store.
type Server struct {
	store    explorer.Store
	cfg      Config
	evidence Evidence
	sections Sections
	tmpl     *templates
	handler  http.Handler
	// tokenSum is SHA-256 of cfg.Token (comparing fixed-length digests in
	// constant time does not leak the token's length).
	tokenSum [32]byte
	// events bounds concurrent /events streams: a slot per stream.
	events chan struct{}
	// evidenceSlots bounds concurrent Evidence calls to maxEvidenceCalls
	// (each reaches peers and verifies a bundle).
	evidenceSlots chan struct{}
	// stop is closed when Serve's context ends, ending every event stream
	// (http.Server.Shutdown waits for handlers, and streams never finish).
	stop     chan struct{}
	stopOnce sync.Once
}

// New checks cfg (see Config.Validate) and builds a Server for store.
func New(store explorer.Store, cfg Config, opts ...Option) (*Server, error) {
	if store == nil {
		return nil, errors.New("explorer: no store")
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s := &Server{
		store:         store,
		cfg:           cfg,
		tmpl:          t,
		tokenSum:      sha256.Sum256([]byte(cfg.Token)),
		events:        make(chan struct{}, cfg.MaxEventClients),
		evidenceSlots: make(chan struct{}, maxEvidenceCalls),
		stop:          make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the routes with access control and request bounds.
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on cfg.Addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("explorer: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln (wrapping it with TLS when configured) until ctx
// ends, then ends the event streams and shuts down gracefully, waiting at
// most 5 s for requests in flight. It closes ln. It refuses a non-loopback
// listener when no token or client CAs are configured, whatever cfg.Addr
// said. It returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !loopbackListener(ln) && !s.cfg.protected() {
		ln.Close()
		return fmt.Errorf("%w: listener %s", ErrUnprotected, ln.Addr())
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.tlsConfig())
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadHeaderTimeout + 10*time.Second,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.stopOnce.Do(func() { close(s.stop) })
		return fmt.Errorf("explorer: %w", err)
	case <-ctx.Done():
	}
	s.stopOnce.Do(func() { close(s.stop) })
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("explorer: %w", err)
	}
	return nil
}

// tlsConfig is cfg.TLS with client certificates requested when ClientCAs
// is set: required at the handshake without a token, optional (the token
// is the alternative) with one.
func (s *Server) tlsConfig() *tls.Config {
	c := s.cfg.TLS.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	if s.cfg.ClientCAs != nil {
		c.ClientCAs = s.cfg.ClientCAs
		c.ClientAuth = tls.RequireAndVerifyClientCert
		if s.cfg.Token != "" {
			c.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return c
}

// authorized reports whether r may read: no access control configured
// (loopback), a client certificate verified against ClientCAs, or the
// token as a bearer header or the login cookie.
func (s *Server) authorized(r *http.Request) bool {
	if !s.cfg.protected() {
		return true
	}
	if s.cfg.ClientCAs != nil && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	if s.cfg.Token == "" {
		return false
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		return subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1
	}
	if c, err := r.Cookie(cookieName); err == nil {
		got, err := hex.DecodeString(c.Value)
		return err == nil && subtle.ConstantTimeCompare(got, s.tokenSum[:]) == 1
	}
	return false
}

// public paths need no token: liveness probes, the login form, and the
// stylesheet and script the login page uses.
func public(path string) bool {
	return path == "/healthz" || path == "/login" || strings.HasPrefix(path, "/static/")
}

// guard bounds every request and enforces access before routing.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// Only our own embedded files run; inline SVG uses attributes, not styles.
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		if len(r.URL.RawQuery) > s.cfg.MaxQueryBytes {
			s.fail(w, r, badRequest("the query string is %d bytes long; at most %d are accepted", len(r.URL.RawQuery), s.cfg.MaxQueryBytes))
			return
		}
		if !public(r.URL.Path) && !s.authorized(r) {
			h.Set("WWW-Authenticate", `Bearer realm="folio explorer"`)
			s.fail(w, r, &httpError{Status: http.StatusUnauthorized, Title: "Access token needed",
				Detail: "This explorer is reachable from other machines and needs its access token: open /login, send \"Authorization: Bearer TOKEN\", or use a client certificate of the network."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// login sets the access cookie when the token (from ?token= or the form)
// is right, and shows the form otherwise.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, badRequest("unreadable form: %v", err))
			return
		}
		tok = r.PostForm.Get("token")
	}
	if tok == "" || !s.cfg.protected() {
		s.render(w, r, http.StatusOK, "login", "Log in", "", loginData{Needed: s.cfg.Token != ""})
		return
	}
	sum := sha256.Sum256([]byte(tok))
	if s.cfg.Token == "" || subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) != 1 {
		s.render(w, r, http.StatusUnauthorized, "login", "Log in", "", loginData{Needed: true, Wrong: true})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: hex.EncodeToString(sum[:]), Path: "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
		MaxAge: 12 * 3600,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type loginData struct{ Needed, Wrong bool }
