package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/atomicfile"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// RegistryFormat is the version of registry.json this build writes; it
// refuses to open a newer one.
const RegistryFormat = 1

// Files in a CA home directory.
const (
	CertFile     = "ca-cert.pem"
	KeyFile      = "ca-key.pem"
	RegistryFile = "registry.json"
	TLSCertFile  = "tls-cert.pem"
	TLSKeyFile   = "tls-key.pem"
)

// Conditions callers branch on.
var (
	ErrAlreadyRegistered = errors.New("identity already registered")
	ErrUnknownIdentity   = errors.New("identity not registered")
	// ErrBadSecret covers both an unknown name and a wrong secret at
	// enrolment, so the CA does not reveal which names exist.
	ErrBadSecret  = errors.New("unknown name or wrong enrolment secret")
	ErrNotAdmin   = errors.New("only an admin of this organisation may do this")
	ErrRevoked    = errors.New("identity is revoked")
	ErrBadRequest = errors.New("bad certificate request")
)

// Status of a registered identity.
const (
	StatusRegistered = "registered"
	StatusEnrolled   = "enrolled"
	StatusRevoked    = "revoked"
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Record is one registered identity.
type Record struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Status string `json:"status"`
	// SecretSHA256 is the hash of the unused enrolment secret; empty once used.
	SecretSHA256 string    `json:"secret_sha256,omitempty"`
	Serials      []string  `json:"serials,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
	RegisteredBy string    `json:"registered_by"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

type registry struct {
	Format     int       `json:"format"`
	Org        string    `json:"org"`
	MSPID      string    `json:"msp_id"`
	CRLNumber  int64     `json:"crl_number"`
	Identities []*Record `json:"identities"`
}

// Authority is one organisation's CA. Safe for concurrent use.
type Authority struct {
	dir  string
	cert *x509.Certificate
	key  crypto.Signer
	now  func() time.Time

	mu struct {
		sync.Mutex
		reg registry
		crl []byte // DER, regenerated on every revocation
		// crlAt is the current list's ThisUpdate; crlValidity how long
		// each list is current (DefaultCRLValidity unless set).
		crlAt       time.Time
		crlValidity time.Duration
	}
}

// InitOptions describe a new CA.
type InitOptions struct {
	Org   string
	MSPID string
	// CAName is the root certificate's common name; default "ca.<org lowercase>".
	CAName string
	// Hosts are the DNS names and IPs of the CA's TLS certificate; default
	// 127.0.0.1 and localhost.
	Hosts []string
	// Now defaults to time.Now.
	Now func() time.Time
}

// Init creates a CA in dir (which must hold no CA yet): root key and
// certificate, the CA's TLS certificate, and a registry with the bootstrap
// admin "admin". It returns the admin's one-time enrolment secret.
func Init(dir string, opts InitOptions) (*Authority, string, error) {
	if opts.Org == "" || opts.MSPID == "" {
		return nil, "", fmt.Errorf("init CA: organisation and MSP ID are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CAName == "" {
		opts.CAName = "ca." + strings.ToLower(opts.Org)
	}
	if len(opts.Hosts) == 0 {
		opts.Hosts = []string{"127.0.0.1", "localhost"}
	}
	if _, err := os.Stat(filepath.Join(dir, RegistryFile)); err == nil {
		return nil, "", fmt.Errorf("init CA: %s already holds a CA", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("init CA: %w", err)
	}
	key, err := fcrypto.GenerateKey()
	if err != nil {
		return nil, "", err
	}
	root, err := identity.NewRootCA(opts.Org, opts.CAName, key, opts.Now(), identity.DefaultRootValidity)
	if err != nil {
		return nil, "", err
	}
	for _, w := range []func() error{
		func() error { return fcrypto.WritePrivateKey(filepath.Join(dir, KeyFile), key) },
		func() error { return fcrypto.WriteCertificate(filepath.Join(dir, CertFile), root.Raw) },
	} {
		if err := w(); err != nil {
			return nil, "", fmt.Errorf("init CA: %w", err)
		}
	}
	if _, err := writeServerTLS(dir, root, key, opts.CAName, opts.Hosts, opts.Now()); err != nil {
		return nil, "", fmt.Errorf("init CA: %w", err)
	}
	a := &Authority{dir: dir, cert: root, key: key, now: opts.Now}
	a.mu.reg = registry{Format: RegistryFormat, Org: opts.Org, MSPID: opts.MSPID}
	secret, err := a.register("bootstrap", "admin", identity.RoleAdmin)
	if err != nil {
		return nil, "", err
	}
	if err := a.refreshCRLLocked(); err != nil {
		return nil, "", err
	}
	return a, secret, nil
}

// writeServerTLS issues the CA service's TLS certificate for a fresh key
// and writes both into dir (TLSCertFile, TLSKeyFile). The certificate is
// TLS-only (identity.IssueServerTLS): no role, server auth alone, so the
// key on the CA's network-facing host is never an identity.
func writeServerTLS(dir string, root *x509.Certificate, rootKey crypto.Signer, name string, hosts []string, now time.Time) (*x509.Certificate, error) {
	tlsKey, err := fcrypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	dns, ips := SplitHosts(hosts)
	cert, err := identity.IssueServerTLS(root, rootKey, identity.ServerTLSRequest{Name: name, PublicKey: tlsKey.Public(), DNSNames: dns, IPs: ips, NotBefore: now})
	if err != nil {
		return nil, err
	}
	// The key first: a crash between the two writes leaves a certificate
	// that does not match its key, which fails loudly at start, rather
	// than a new certificate beside the old key.
	if err := fcrypto.WritePrivateKey(filepath.Join(dir, TLSKeyFile), tlsKey); err != nil {
		return nil, err
	}
	if err := fcrypto.WriteCertificate(filepath.Join(dir, TLSCertFile), cert.Raw); err != nil {
		return nil, err
	}
	return cert, nil
}

// ErrLegacyTLS means a CA's TLS certificate carries a Folio role: CAs made
// before issue 18 issued it with the admin role, which made its key an
// admin identity of the organisation that no revocation list listed.
var ErrLegacyTLS = errors.New("the CA's TLS certificate carries a Folio role")

// CheckServerTLS checks that cert can be a CA's TLS certificate: a
// TLS-only certificate with the server-auth usage and no Folio role.
func CheckServerTLS(cert *x509.Certificate) error {
	if err := identity.CheckExtKeyUsage(cert, x509.ExtKeyUsageServerAuth); err != nil {
		return fmt.Errorf("CA TLS certificate: %w", err)
	}
	for _, ou := range cert.Subject.OrganizationalUnit {
		if r, err := identity.ParseRole(ou); err == nil {
			return fmt.Errorf("%w (%s; made by folio before issue 18): its key would act as an identity of the organisation", ErrLegacyTLS, r)
		}
	}
	return nil
}

// RenewTLS replaces the TLS certificate and key in a CA's home directory
// with a TLS-only certificate (see CheckServerTLS) for a fresh key, valid
// for the same host names and addresses as the old one (or for hosts, if
// given), and returns it. Run it on the CA's host with the CA stopped;
// clients trust the CA's root, so they accept the new certificate as is.
func RenewTLS(dir string, hosts []string, now func() time.Time) (*x509.Certificate, error) {
	if now == nil {
		now = time.Now
	}
	root, err := fcrypto.ReadCertificate(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("renew CA TLS certificate: %w", err)
	}
	key, err := fcrypto.ReadPrivateKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("renew CA TLS certificate: %w", err)
	}
	name := root.Subject.CommonName
	if len(hosts) == 0 {
		old, err := fcrypto.ReadCertificate(filepath.Join(dir, TLSCertFile))
		if err != nil {
			return nil, fmt.Errorf("renew CA TLS certificate: %w (name the hosts to issue it for)", err)
		}
		name = old.Subject.CommonName
		hosts = append(hosts, old.DNSNames...)
		for _, ip := range old.IPAddresses {
			hosts = append(hosts, ip.String())
		}
	}
	cert, err := writeServerTLS(dir, root, key, name, hosts, now())
	if err != nil {
		return nil, fmt.Errorf("renew CA TLS certificate: %w", err)
	}
	return cert, nil
}

// Open loads an existing CA from dir. now defaults to time.Now.
func Open(dir string, now func() time.Time) (*Authority, error) {
	if now == nil {
		now = time.Now
	}
	cert, err := fcrypto.ReadCertificate(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("open CA: %w", err)
	}
	key, err := fcrypto.ReadPrivateKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("open CA: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, RegistryFile))
	if err != nil {
		return nil, fmt.Errorf("open CA: %w", err)
	}
	var reg registry
	if err := json.Unmarshal(data, &reg); err != nil {
		return nil, fmt.Errorf("open CA: %s: %w", filepath.Join(dir, RegistryFile), err)
	}
	if reg.Format > RegistryFormat {
		return nil, fmt.Errorf("open CA: %s has format %d, this build reads up to %d: upgrade folio",
			filepath.Join(dir, RegistryFile), reg.Format, RegistryFormat)
	}
	a := &Authority{dir: dir, cert: cert, key: key, now: now}
	a.mu.reg = reg
	if err := a.refreshCRLLocked(); err != nil {
		return nil, err
	}
	return a, nil
}

// Org returns the organisation's name and MSP ID.
func (a *Authority) Org() (name, mspID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.reg.Org, a.mu.reg.MSPID
}

// Certificate returns the CA's root certificate.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// CRL returns the current certificate revocation list, DER. The caller must
// not modify it. A list past half its validity is signed again (same
// number and revocations, new ThisUpdate and NextUpdate), so nodes that
// fetch it never see it go out of date while the CA runs.
func (a *Authority) CRL() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.now().Sub(a.mu.crlAt) > a.validityLocked()/2 {
		_ = a.refreshCRLLocked() // on failure the previous list stands
	}
	return a.mu.crl
}

// SetCRLValidity sets how long each revocation list stays current (its
// NextUpdate) and signs a fresh list with it.
func (a *Authority) SetCRLValidity(d time.Duration) error {
	if d < time.Second {
		return fmt.Errorf("CRL validity %s: use at least 1s", d)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mu.crlValidity = d
	return a.refreshCRLLocked()
}

func (a *Authority) validityLocked() time.Duration {
	if a.mu.crlValidity == 0 {
		return identity.DefaultCRLValidity
	}
	return a.mu.crlValidity
}

// Register adds an identity with a role and returns its one-time enrolment
// secret. by is the admin's label, recorded for audit; authorisation is the
// caller's job (Service checks the admin's signature and role).
func (a *Authority) Register(by, name string, role identity.Role) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.register(by, name, role)
}

func (a *Authority) register(by, name string, role identity.Role) (string, error) {
	if !namePattern.MatchString(name) {
		return "", fmt.Errorf("register %q: %w: a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name, ErrBadRequest)
	}
	if _, err := identity.ParseRole(string(role)); err != nil {
		return "", fmt.Errorf("register %q: %w: %v", name, ErrBadRequest, err)
	}
	if r := a.find(name); r != nil {
		return "", fmt.Errorf("register %q: %w (status %s)", name, ErrAlreadyRegistered, r.Status)
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("register %q: secret: %w", name, err)
	}
	secret := hex.EncodeToString(raw)
	rec := &Record{Name: name, Role: string(role), Status: StatusRegistered, SecretSHA256: hashSecret(secret),
		RegisteredAt: a.now().UTC(), RegisteredBy: by}
	a.mu.reg.Identities = append(a.mu.reg.Identities, rec)
	if err := a.saveLocked(); err != nil {
		a.mu.reg.Identities = a.mu.reg.Identities[:len(a.mu.reg.Identities)-1]
		return "", err
	}
	return secret, nil
}

// EnrollRequest is a client's enrolment.
type EnrollRequest struct {
	Name   string
	Secret string
	// CSR is the DER PKCS#10 request for the signing certificate.
	CSR []byte
	// TLSCSR optionally requests a TLS certificate too (nodes need one);
	// its DNS and IP SANs are copied into the certificate.
	TLSCSR []byte
}

// Enrollment is what a successful enrolment issues.
type Enrollment struct {
	Cert    *x509.Certificate
	TLSCert *x509.Certificate // nil unless requested
	Role    identity.Role
}

// Enroll checks the one-time secret and issues certificates for the keys in
// the requests. The secret cannot be used again.
func (a *Authority) Enroll(req EnrollRequest) (*Enrollment, error) {
	csr, err := parseCSR(req.CSR)
	if err != nil {
		return nil, fmt.Errorf("enroll %q: %w", req.Name, err)
	}
	var tlsCSR *x509.CertificateRequest
	if len(req.TLSCSR) > 0 {
		if tlsCSR, err = parseCSR(req.TLSCSR); err != nil {
			return nil, fmt.Errorf("enroll %q: TLS request: %w", req.Name, err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.find(req.Name)
	if rec == nil || rec.Status != StatusRegistered ||
		subtle.ConstantTimeCompare([]byte(rec.SecretSHA256), []byte(hashSecret(req.Secret))) != 1 {
		return nil, fmt.Errorf("enroll %q: %w", req.Name, ErrBadSecret)
	}
	role := identity.Role(rec.Role)
	now := a.now()
	out := &Enrollment{Role: role}
	out.Cert, err = identity.Issue(a.cert, a.key, identity.LeafRequest{Name: rec.Name, Role: role, PublicKey: csr.PublicKey, NotBefore: now})
	if err != nil {
		return nil, err
	}
	if tlsCSR != nil {
		// Only nodes serve TLS under a role; a client's or admin's signing
		// certificate is its TLS client certificate, and the MSP refuses a
		// server-auth certificate with their roles (identity.ErrServerUsage).
		if !role.IsNode() {
			return nil, fmt.Errorf("enroll %q: %w: a TLS certificate is for peers and orderers, and %q is a %s (its signing certificate already works as a TLS client certificate)",
				req.Name, ErrBadRequest, req.Name, role)
		}
		out.TLSCert, err = identity.Issue(a.cert, a.key, identity.LeafRequest{Name: rec.Name, Role: role, PublicKey: tlsCSR.PublicKey,
			TLS: true, DNSNames: tlsCSR.DNSNames, IPs: tlsCSR.IPAddresses, NotBefore: now})
		if err != nil {
			return nil, err
		}
	}
	prev := *rec
	rec.Status, rec.SecretSHA256 = StatusEnrolled, ""
	rec.Serials = append(rec.Serials, identity.SerialHex(out.Cert.SerialNumber))
	if out.TLSCert != nil {
		rec.Serials = append(rec.Serials, identity.SerialHex(out.TLSCert.SerialNumber))
	}
	if err := a.saveLocked(); err != nil {
		*rec = prev
		return nil, err
	}
	return out, nil
}

// Revoke revokes every certificate of an identity and returns the newly
// revoked serials and the new CRL.
func (a *Authority) Revoke(by, name, reason string) ([]string, []byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.find(name)
	if rec == nil {
		return nil, nil, fmt.Errorf("revoke %q: %w", name, ErrUnknownIdentity)
	}
	if rec.Status == StatusRevoked {
		return nil, nil, fmt.Errorf("revoke %q: %w already (at %s)", name, ErrRevoked, rec.RevokedAt.Format(time.RFC3339))
	}
	prev := *rec
	rec.Status, rec.SecretSHA256 = StatusRevoked, ""
	rec.RevokedAt, rec.RevokedBy, rec.RevokeReason = a.now().UTC(), by, reason
	a.mu.reg.CRLNumber++
	if err := a.saveLocked(); err != nil {
		*rec = prev
		a.mu.reg.CRLNumber--
		return nil, nil, err
	}
	if err := a.refreshCRLLocked(); err != nil {
		return nil, nil, err
	}
	return append([]string(nil), rec.Serials...), a.mu.crl, nil
}

// List returns copies of all records, sorted by name.
func (a *Authority) List() []Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Record, 0, len(a.mu.reg.Identities))
	for _, r := range a.mu.reg.Identities {
		c := *r
		c.SecretSHA256 = ""
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (a *Authority) find(name string) *Record {
	for _, r := range a.mu.reg.Identities {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (a *Authority) saveLocked() error {
	data, err := json.MarshalIndent(&a.mu.reg, "", "  ")
	if err != nil {
		return fmt.Errorf("save CA registry: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(a.dir, RegistryFile), data, 0o600)
}

// refreshCRLLocked regenerates the CRL from the registry, which is the only
// persisted source of truth for revocations.
func (a *Authority) refreshCRLLocked() error {
	var revoked []identity.Revocation
	for _, r := range a.mu.reg.Identities {
		if r.Status != StatusRevoked {
			continue
		}
		for _, s := range r.Serials {
			revoked = append(revoked, identity.Revocation{Serial: s, RevokedAt: r.RevokedAt})
		}
	}
	now := a.now()
	crl, err := identity.NewCRLValidFor(a.cert, a.key, a.mu.reg.CRLNumber+1, revoked, now, a.validityLocked())
	if err != nil {
		return err
	}
	a.mu.crl, a.mu.crlAt = crl, now
	return nil
}

func parseCSR(der []byte) (*x509.CertificateRequest, error) {
	if len(der) == 0 {
		return nil, fmt.Errorf("%w: certificate request missing", ErrBadRequest)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: request not signed by its key: %v", ErrBadRequest, err)
	}
	if _, err := fcrypto.KeyID(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return csr, nil
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// SplitHosts separates IP addresses from DNS names.
func SplitHosts(hosts []string) ([]string, []net.IP) {
	var dns []string
	var ips []net.IP
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips
}
