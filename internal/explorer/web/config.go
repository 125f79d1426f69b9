package web

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// ErrUnprotected: the server would listen on a non-loopback address with
// neither an access token nor client certificates.
var ErrUnprotected = errors.New("explorer: a non-loopback address needs an access token or client certificates")

// Config is the web application's access rules and bounds. Zero fields
// take the defaults written beside them.
type Config struct {
	// Addr is where ListenAndServe listens. Default "127.0.0.1:8080".
	// Any address that is not loopback (including ":8080" and 0.0.0.0)
	// requires Token or ClientCAs.
	Addr string
	// Token, when set, is required of every request except /healthz,
	// /login and /static/: as "Authorization: Bearer TOKEN" or the cookie
	// that /login?token=TOKEN sets. At least MinTokenLen bytes. Compared in
	// constant time.
	Token string
	// ClientCAs, when set, makes the server ask for client certificates
	// verified against this pool; a request over such a connection needs
	// no token. Requires TLS. Without Token, a certificate is required at
	// the TLS handshake.
	ClientCAs *x509.CertPool
	// TLS is the server's TLS configuration (its certificate); nil serves
	// plain HTTP. Serve wraps the listener with it.
	TLS *tls.Config

	// MaxEventClients bounds concurrent /events streams; more get 503.
	// Default 64.
	MaxEventClients int
	// MaxHeaderBytes bounds request headers. Default 16 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds request bodies (only /login has one). Default 4 KiB.
	MaxBodyBytes int64
	// MaxQueryBytes bounds the raw query string; longer gets 400. Default 2 KiB.
	MaxQueryBytes int
	// ReadHeaderTimeout bounds reading request headers. Default 5 s.
	ReadHeaderTimeout time.Duration
	// WriteTimeout bounds writing a response (event streams extend it per
	// event). Default 30 s.
	WriteTimeout time.Duration
	// PageSize is the default number of rows of a listing. Default 25;
	// MaxPageSize caps what ?limit= may ask. Default 100.
	PageSize, MaxPageSize int
	// EvidenceTimeout bounds one call of the Evidence hook. Default 30 s.
	EvidenceTimeout time.Duration
	// Logger receives request errors. Default slog.Default().
	Logger *slog.Logger
}

// MinTokenLen is the shortest access token accepted: long enough that
// guessing it is hopeless.
const MinTokenLen = 16

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.MaxEventClients <= 0 {
		c.MaxEventClients = 64
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 16 << 10
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 4 << 10
	}
	if c.MaxQueryBytes <= 0 {
		c.MaxQueryBytes = 2 << 10
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.PageSize <= 0 {
		c.PageSize = 25
	}
	if c.MaxPageSize <= 0 {
		c.MaxPageSize = 100
	}
	if c.PageSize > c.MaxPageSize {
		c.PageSize = c.MaxPageSize
	}
	if c.EvidenceTimeout <= 0 {
		c.EvidenceTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the access rules: refuse to serve a non-loopback
// address unprotected.
func (c *Config) Validate() error {
	if c.Token != "" && len(c.Token) < MinTokenLen {
		return fmt.Errorf("explorer: access token too short (%d bytes, need at least %d)", len(c.Token), MinTokenLen)
	}
	if c.ClientCAs != nil && c.TLS == nil {
		return errors.New("explorer: client certificates (ClientCAs) need a TLS configuration with the server's certificate")
	}
	if c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil {
		return errors.New("explorer: TLS configuration has no server certificate")
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("explorer: address %q: %w", c.Addr, err)
	}
	if !loopbackHost(host) && !c.protected() {
		return fmt.Errorf("%w: %s is reachable from other machines; set a token (at least %d characters) or client CAs, or bind 127.0.0.1", ErrUnprotected, c.Addr, MinTokenLen)
	}
	return nil
}

func (c *Config) protected() bool { return c.Token != "" || c.ClientCAs != nil }

// loopbackHost reports whether host only accepts local connections. An
// empty host, 0.0.0.0 or a name other than localhost listens elsewhere
// (or may: a name can resolve to anything).
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackListener reports whether ln only accepts local connections
// (loopback TCP or a Unix socket).
func loopbackListener(ln net.Listener) bool {
	switch a := ln.Addr().(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	default:
		return false
	}
}
