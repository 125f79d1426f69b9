package node

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// CertPollInterval is how often a running node looks at its identity and
// TLS certificate files for a renewal (their modification time and size;
// a file is read only when they change). SIGHUP makes it look at once. A
// variable so tests can change it before a node starts.
var CertPollInterval = 5 * time.Second

// maxCertFileBytes bounds what a poll reads: a PEM certificate is a few
// kilobytes, and the file is the operator's, not the network's, but a
// wrong path (a log, a block file) must not make the node read it whole.
const maxCertFileBytes = 64 << 10

// Which certificate of the node a renewal concerns (metric label, log).
const (
	certIdentity = "identity"
	certTLS      = "tls"
)

// certReloader renews a running node's certificates in place when their
// files change (`folio ca renew --node-dir`): the signing identity
// (identity.SigningIdentity.Renew) and the TLS certificate that the API
// listener and the p2p host present to new connections; sessions and
// connections already up keep theirs. A renewal keeps the key: a file for
// another key, name, organisation or role, one the MSP refuses, or one not
// valid now is refused with an error in the log, and the node keeps the
// certificate it has (a new key is a new node: for an orderer `folio
// orderer remove` then `add`, for a peer a new peer).
//
// TLS, GetCertificate and GetClientCertificate are safe for concurrent
// use. Check is serialised by mu; run calls it from one goroutine.
type certReloader struct {
	self     *identity.SigningIdentity
	verifier *identity.Verifier
	mspID    string
	idFile   string
	tlsFile  string
	tlsKey   crypto.Signer
	now      func() time.Time
	log      *slog.Logger

	renewals *prometheus.CounterVec
	notAfter *prometheus.GaugeVec

	// tls is the TLS certificate new connections get.
	tls atomic.Pointer[tls.Certificate]

	mu struct {
		sync.Mutex
		// seen is each file's stamp when last read; a file is read again
		// only when its stamp changes.
		seen map[string]fileStamp
	}
}

// fileStamp is what a poll compares: the file (device and inode, which
// an atomic replace changes even within one timestamp tick), its
// modification time and size.
type fileStamp struct {
	fi   os.FileInfo
	mod  time.Time
	size int64
}

func (a fileStamp) same(b fileStamp) bool {
	return os.SameFile(a.fi, b.fi) && a.mod.Equal(b.mod) && a.size == b.size
}

// newCertReloader watches the certificate files of cfg for the node whose
// signing identity is self and whose TLS certificate is tlsCert (as
// loadNodeIdentity returned them). It registers its metrics on m.
func newCertReloader(cfg *config.Node, v *identity.Verifier, self *identity.SigningIdentity, tlsCert tls.Certificate, m *metrics, log *slog.Logger) (*certReloader, error) {
	key, ok := tlsCert.PrivateKey.(crypto.Signer)
	if !ok || tlsCert.Leaf == nil {
		return nil, errors.New("certificate reloader: the TLS certificate needs its parsed leaf and a crypto.Signer key")
	}
	labels := prometheus.Labels{"node": cfg.Name, "role": cfg.Role, "org": cfg.Org}
	r := &certReloader{self: self, verifier: v, mspID: cfg.MSPID, idFile: cfg.Identity.Cert, tlsFile: cfg.TLS.Cert, tlsKey: key, now: time.Now,
		log: log.With("component", "certificates"),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_certificate_renewals_total", Help: "Certificate files picked up (renewed) or refused by the running node, by certificate (identity, tls).", ConstLabels: labels,
		}, []string{"cert", "result"}),
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "folio_certificate_not_after_seconds", Help: "Expiry (Unix seconds) of the certificate the node uses, by certificate (identity, tls).", ConstLabels: labels,
		}, []string{"cert"}),
	}
	for _, c := range []prometheus.Collector{r.renewals, r.notAfter} {
		if err := m.registry.Register(c); err != nil {
			return nil, fmt.Errorf("certificate reloader metrics: %w", err)
		}
	}
	c := tlsCert
	r.tls.Store(&c)
	r.mu.seen = map[string]fileStamp{}
	r.notAfter.WithLabelValues(certIdentity).Set(float64(self.Certificate().NotAfter.Unix()))
	r.notAfter.WithLabelValues(certTLS).Set(float64(tlsCert.Leaf.NotAfter.Unix()))
	return r, nil
}

// TLS returns the TLS certificate new connections present. Never nil.
func (r *certReloader) TLS() *tls.Certificate { return r.tls.Load() }

// GetCertificate is tls.Config.GetCertificate for the node's listeners.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.tls.Load(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate for the node
// dialing other nodes.
func (r *certReloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.tls.Load(), nil
}

// run checks the files every CertPollInterval and on every value from hup
// (nil: none) until ctx is done.
func (r *certReloader) run(ctx context.Context, hup <-chan os.Signal) {
	t := time.NewTicker(CertPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			r.log.Info("SIGHUP: checking the certificate files")
		}
		_ = r.Check() // Check logs and counts what it refuses
	}
}

// startCertReload runs r until ctx is done, as background work of e that
// Run waits for. SIGHUP makes it check the files at once.
func startCertReload(ctx context.Context, e *env, r *certReloader) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer signal.Stop(hup)
		r.run(ctx, hup)
	}()
}

// Check looks at both certificate files once and installs a renewal found
// in either. It returns the refusals (also logged and counted); a file
// that has not changed since it was last read is not read again.
func (r *certReloader) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.checkLocked(certIdentity, r.idFile, r.renewIdentity), r.checkLocked(certTLS, r.tlsFile, r.renewTLS))
}

func (r *certReloader) checkLocked(which, path string, renew func(*x509.Certificate) (old *x509.Certificate, err error)) error {
	fi, err := os.Stat(path)
	if err != nil {
		// A file being replaced may be missing for an instant; the next
		// poll sees the new one. Nothing is swapped.
		return r.refused(which, path, err)
	}
	stamp := fileStamp{fi: fi, mod: fi.ModTime(), size: fi.Size()}
	if prev, ok := r.mu.seen[path]; ok && prev.same(stamp) {
		return nil
	}
	// Remember the stamp whether or not the file is good: a refused file
	// is logged once, and read again when it changes.
	r.mu.seen[path] = stamp
	cert, err := readCertBounded(path)
	if err != nil {
		return r.refused(which, path, err)
	}
	old, err := renew(cert)
	if err != nil {
		return r.refused(which, path, err)
	}
	if old == nil { // the file holds the certificate in use
		return nil
	}
	r.renewals.WithLabelValues(which, "renewed").Inc()
	r.notAfter.WithLabelValues(which).Set(float64(cert.NotAfter.Unix()))
	r.log.Info("certificate renewed", "cert", which, "file", path,
		"old_serial", identity.SerialHex(old.SerialNumber), "old_not_after", old.NotAfter.UTC().Format(time.RFC3339),
		"serial", identity.SerialHex(cert.SerialNumber), "not_after", cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

func (r *certReloader) refused(which, path string, err error) error {
	err = fmt.Errorf("%s certificate %s: %w; the node keeps its current certificate", which, path, err)
	r.renewals.WithLabelValues(which, "refused").Inc()
	r.log.Error("certificate file refused", "cert", which, "file", path, "err", err)
	return err
}

// renewIdentity installs cert as the node's signing certificate if it is
// a renewal the MSP accepts. It returns the replaced certificate, or nil
// if cert is the one in use.
func (r *certReloader) renewIdentity(cert *x509.Certificate) (*x509.Certificate, error) {
	cur := r.self.Certificate()
	if bytes.Equal(cur.Raw, cert.Raw) {
		return nil, nil
	}
	if err := r.acceptable(cert, cur); err != nil {
		return nil, err
	}
	if err := r.self.Renew(cert); err != nil {
		return nil, err
	}
	return cur, nil
}

// renewTLS installs cert as the node's TLS certificate if it is a renewal
// for the same TLS key, name and role that the MSP accepts, with both TLS
// usages. It returns the replaced certificate, or nil if cert is the one
// in use.
func (r *certReloader) renewTLS(cert *x509.Certificate) (*x509.Certificate, error) {
	cur := r.tls.Load().Leaf
	if bytes.Equal(cur.Raw, cert.Raw) {
		return nil, nil
	}
	kid, err := fcrypto.KeyID(r.tlsKey.Public())
	if err != nil {
		return nil, err
	}
	if cid, err := fcrypto.KeyID(cert.PublicKey); err != nil || cid != kid {
		return nil, fmt.Errorf("%w: it is for another key than the node's TLS key; renew it for the same key (folio ca renew --tls)", identity.ErrRenewal)
	}
	if err := r.acceptable(cert, cur); err != nil {
		return nil, err
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if err := identity.CheckExtKeyUsage(cert, u); err != nil {
			return nil, err
		}
	}
	r.tls.Store(&tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: r.tlsKey, Leaf: cert})
	return cur, nil
}

// acceptable checks what any renewal of cur must be: valid now, an
// identity of the node's organisation that the MSP accepts (its root,
// revocation list, role rules), with the node's name and role.
func (r *certReloader) acceptable(cert, cur *x509.Certificate) error {
	now := r.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("%w: valid from %s to %s, and it is %s", identity.ErrRenewal,
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	id, err := r.verifier.Validate(r.mspID, cert)
	if err != nil {
		return err
	}
	if id.Name != r.self.Name || id.Role != r.self.Role {
		return fmt.Errorf("%w: it is %s, and this node is %s", identity.ErrRenewal, id, &r.self.Identity)
	}
	if cert.NotAfter.Before(cur.NotAfter) {
		// Allowed (a CA may issue shorter certificates), but worth a word:
		// it usually means an old file was copied back.
		r.log.Warn("renewed certificate expires before the one it replaces", "serial", identity.SerialHex(cert.SerialNumber),
			"not_after", cert.NotAfter.UTC().Format(time.RFC3339), "old_not_after", cur.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func readCertBounded(path string) (*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCertFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxCertFileBytes {
		return nil, fmt.Errorf("more than %d bytes: not a certificate file", maxCertFileBytes)
	}
	return fcrypto.ParseCertificatePEM(data)
}
