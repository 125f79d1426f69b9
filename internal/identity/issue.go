package identity

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Default certificate lifetimes.
const (
	DefaultRootValidity = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 2 * 365 * 24 * time.Hour
)

// NewRootCA creates a self-signed root CA certificate for an organisation
// (ECDSA P-256, or whatever key is given).
func NewRootCA(org, caName string, key crypto.Signer, notBefore time.Time, validity time.Duration) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caName, Organization: []string{org}},
		NotBefore:             notBefore.Add(-5 * time.Minute),
		NotAfter:              notBefore.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create root CA for %s: %w", org, err)
	}
	return x509.ParseCertificate(der)
}

// LeafRequest describes a leaf certificate to issue.
type LeafRequest struct {
	// Name becomes the subject common name, e.g. "user1" or "peer0.org1".
	Name string
	Role Role
	// PublicKey is the subject's key; the issuer never sees its private half.
	PublicKey crypto.PublicKey
	// TLS makes a node's transport certificate: server and client auth,
	// with the SANs below. Otherwise the certificate is a signing identity
	// (client auth only, so it can also authenticate a TLS client). The
	// MSP refuses a server-auth certificate whose role is not peer or
	// orderer (ErrServerUsage): only nodes serve TLS under a role.
	TLS      bool
	DNSNames []string
	IPs      []net.IP
	// NotBefore defaults to now; Validity to DefaultLeafValidity.
	NotBefore time.Time
	Validity  time.Duration
}

// Issue signs a leaf certificate with the CA's key. The organisation is the
// CA certificate's organisation; the role goes in the OU.
func Issue(ca *x509.Certificate, caKey crypto.Signer, req LeafRequest) (*x509.Certificate, error) {
	if req.Name == "" {
		return nil, fmt.Errorf("issue certificate: empty name")
	}
	if _, err := ParseRole(string(req.Role)); err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", req.Name, err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: req.Name, OrganizationalUnit: []string{string(req.Role)}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if req.TLS {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		tmpl.DNSNames = req.DNSNames
		tmpl.IPAddresses = req.IPs
	}
	return issueLeaf(ca, caKey, tmpl, req.PublicKey, req.NotBefore, req.Validity)
}

// ServerTLSRequest describes a TLS-only server certificate (IssueServerTLS).
type ServerTLSRequest struct {
	// Name becomes the subject common name, e.g. "ca.org1".
	Name      string
	PublicKey crypto.PublicKey
	// DNSNames and IPs are the SANs; at least one is required.
	DNSNames []string
	IPs      []net.IP
	// NotBefore defaults to now; Validity to DefaultLeafValidity.
	NotBefore time.Time
	Validity  time.Duration
}

// IssueServerTLS signs a certificate that can only serve TLS: server-auth
// usage alone and no Folio role in its subject. The MSP therefore refuses
// it as an identity (ErrNoRole) wherever one is validated (transactions,
// approvals, config updates, CA admin requests, TLS client certificates),
// and it is no TLS client certificate either. A CA's own TLS certificate is
// one: its key sits on a network-facing host, and before this it carried
// the admin role, an admin identity that no CRL listed.
func IssueServerTLS(ca *x509.Certificate, caKey crypto.Signer, req ServerTLSRequest) (*x509.Certificate, error) {
	if req.Name == "" {
		return nil, fmt.Errorf("issue TLS certificate: empty name")
	}
	if len(req.DNSNames) == 0 && len(req.IPs) == 0 {
		return nil, fmt.Errorf("issue TLS certificate for %s: no host name or IP address", req.Name)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: req.Name},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    req.DNSNames,
		IPAddresses: req.IPs,
	}
	return issueLeaf(ca, caKey, tmpl, req.PublicKey, req.NotBefore, req.Validity)
}

// issueLeaf fills in what every leaf shares (organisation, serial, key
// IDs, validity capped at the CA's) and signs tmpl.
func issueLeaf(ca *x509.Certificate, caKey crypto.Signer, tmpl *x509.Certificate, pub crypto.PublicKey, notBefore time.Time, validity time.Duration) (*x509.Certificate, error) {
	name := tmpl.Subject.CommonName
	if len(ca.Subject.Organization) != 1 {
		return nil, fmt.Errorf("issue certificate for %s: CA %q has no single organisation", name, ca.Subject.CommonName)
	}
	if notBefore.IsZero() {
		notBefore = time.Now()
	}
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	notAfter := notBefore.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	tmpl.Subject.Organization = ca.Subject.Organization
	tmpl.SerialNumber = serial
	tmpl.NotBefore = notBefore.Add(-5 * time.Minute) // tolerate small clock skew
	tmpl.NotAfter = notAfter
	tmpl.SubjectKeyId = ski
	tmpl.AuthorityKeyId = ca.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", name, err)
	}
	return x509.ParseCertificate(der)
}

// HasExtKeyUsage reports whether cert states the extended key usage u (or
// "any"). A certificate that states none has none here: every certificate
// Folio issues states its usages, and a server or client certificate must
// say what it is for.
func HasExtKeyUsage(cert *x509.Certificate, u x509.ExtKeyUsage) bool {
	for _, got := range cert.ExtKeyUsage {
		if got == u || got == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// CheckExtKeyUsage returns an error wrapping ErrKeyUsage unless cert states
// the extended key usage u: server auth for a certificate a TLS server
// presents, client auth for one a TLS client presents.
func CheckExtKeyUsage(cert *x509.Certificate, u x509.ExtKeyUsage) error {
	if HasExtKeyUsage(cert, u) {
		return nil
	}
	return fmt.Errorf("%w: %q lacks the %s usage (it has %s)", ErrKeyUsage, cert.Subject, usageName(u), usageNames(cert.ExtKeyUsage))
}

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "TLS server-auth"
	case x509.ExtKeyUsageClientAuth:
		return "TLS client-auth"
	case x509.ExtKeyUsageAny:
		return "any"
	}
	return fmt.Sprintf("extended key usage %d", u)
}

func usageNames(us []x509.ExtKeyUsage) string {
	if len(us) == 0 {
		return "none"
	}
	out := ""
	for i, u := range us {
		if i > 0 {
			out += ", "
		}
		out += usageName(u)
	}
	return out
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

// DefaultCRLValidity is how long a CRL stays current before verifiers should
// expect a newer one.
const DefaultCRLValidity = 7 * 24 * time.Hour

// NewCRL signs a certificate revocation list with the CA's key, current for
// DefaultCRLValidity. number must grow with every new list.
func NewCRL(ca *x509.Certificate, caKey crypto.Signer, number int64, revoked []Revocation, now time.Time) ([]byte, error) {
	return NewCRLValidFor(ca, caKey, number, revoked, now, DefaultCRLValidity)
}

// NewCRLValidFor is NewCRL with the list current for validity (its
// NextUpdate is now + validity).
func NewCRLValidFor(ca *x509.Certificate, caKey crypto.Signer, number int64, revoked []Revocation, now time.Time, validity time.Duration) ([]byte, error) {
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		serial, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("CRL: bad serial %q", r.Serial)
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: r.RevokedAt})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now,
		NextUpdate:                now.Add(validity),
		RevokedCertificateEntries: entries,
	}, ca, caKey)
	if err != nil {
		return nil, fmt.Errorf("CRL of %s: %w", ca.Subject.CommonName, err)
	}
	return der, nil
}
