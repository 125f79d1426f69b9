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
	// TLS makes a transport certificate: server and client auth, with the SANs
	// below. Otherwise the certificate is a signing identity (client auth
	// only, so it can also authenticate a TLS client).
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
	if len(ca.Subject.Organization) != 1 {
		return nil, fmt.Errorf("issue certificate: CA %q has no single organisation", ca.Subject.CommonName)
	}
	notBefore := req.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now()
	}
	validity := req.Validity
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
	ski, err := subjectKeyID(req.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         req.Name,
			Organization:       ca.Subject.Organization,
			OrganizationalUnit: []string{string(req.Role)},
		},
		NotBefore:      notBefore.Add(-5 * time.Minute), // tolerate small clock skew
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		SubjectKeyId:   ski,
		AuthorityKeyId: ca.SubjectKeyId,
	}
	if req.TLS {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		tmpl.DNSNames = req.DNSNames
		tmpl.IPAddresses = req.IPs
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, req.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", req.Name, err)
	}
	return x509.ParseCertificate(der)
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
