package ca

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// ReenrollGrace is how long after its certificate expired an identity can
// still be renewed, and then only by an admin of the organisation: an
// identity renews itself with its current certificate, which must still be
// valid. Past the grace the name is treated as abandoned: revoke it and
// register a new identity. Thirty days covers a node that was switched off
// over a holiday or a certificate nobody watched, without letting a key
// that has been out of use for months come back.
const ReenrollGrace = 30 * 24 * time.Hour

// maxTLSHosts bounds the SANs a renewed TLS certificate may carry.
const maxTLSHosts = 16

// ErrExpiredTooLong means the certificate to renew expired more than
// ReenrollGrace ago, or expired at all and the identity asked itself.
var ErrExpiredTooLong = errors.New("certificate expired too long ago to renew")

// ErrNotYours means a renewal names another identity than the
// certificate's, or a non-admin asked to renew someone else.
var ErrNotYours = errors.New("certificate belongs to another identity")

// ReenrollRequest renews an identity's certificates for the same keys.
// Authentication is the caller's (Service checks the signed request and
// who may renew whom); the Authority checks that Current is a certificate
// it issued to Name and still stands, and that the requests prove
// possession of the same keys.
type ReenrollRequest struct {
	Name string
	// Current is the signing certificate being renewed.
	Current *x509.Certificate
	// ByAdmin allows a Current that expired up to ReenrollGrace ago.
	ByAdmin bool
	// CSR is the DER PKCS#10 request for the renewed signing certificate;
	// its key must be Current's.
	CSR []byte
	// CurrentTLS and TLSCSR, both or neither, renew a node's TLS
	// certificate for the same TLS key.
	CurrentTLS *x509.Certificate
	TLSCSR     []byte
}

// Reenroll issues new certificates for the keys of an identity's current
// ones: same name and role (the registry's), new serials and validity. It
// records the new serials, so revoking the name revokes them too.
func (a *Authority) Reenroll(req ReenrollRequest) (*Enrollment, error) {
	fail := func(err error) (*Enrollment, error) { return nil, fmt.Errorf("reenroll %q: %w", req.Name, err) }
	if req.Current == nil {
		return fail(fmt.Errorf("%w: the certificate to renew is missing", ErrBadRequest))
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		return fail(err)
	}
	if err := sameKeyAs(csr, req.Current); err != nil {
		return fail(err)
	}
	var tlsCSR *x509.CertificateRequest
	if (req.CurrentTLS == nil) != (len(req.TLSCSR) == 0) {
		return fail(fmt.Errorf("%w: a TLS renewal needs both the current TLS certificate and a request for its key", ErrBadRequest))
	}
	if req.CurrentTLS != nil {
		if tlsCSR, err = parseCSR(req.TLSCSR); err != nil {
			return fail(fmt.Errorf("TLS request: %w", err))
		}
		if err := sameKeyAs(tlsCSR, req.CurrentTLS); err != nil {
			return fail(fmt.Errorf("TLS: %w", err))
		}
		if len(tlsCSR.DNSNames)+len(tlsCSR.IPAddresses) > maxTLSHosts {
			return fail(fmt.Errorf("%w: the TLS request names %d hosts, at most %d", ErrBadRequest, len(tlsCSR.DNSNames)+len(tlsCSR.IPAddresses), maxTLSHosts))
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.find(req.Name)
	if rec == nil {
		return fail(ErrUnknownIdentity)
	}
	if rec.Status == StatusRevoked {
		return fail(fmt.Errorf("%w (at %s): a revoked identity cannot renew; register a new one", ErrRevoked, rec.RevokedAt.Format(time.RFC3339)))
	}
	if rec.Status != StatusEnrolled {
		return fail(fmt.Errorf("%w: %q has not enrolled yet; enroll it with its secret", ErrBadRequest, req.Name))
	}
	role := identity.Role(rec.Role)
	now := a.now()
	if err := a.issuedTo(rec, req.Current); err != nil {
		return fail(err)
	}
	if r, err := identity.ParseRole(firstOU(req.Current)); err != nil || r != role {
		return fail(fmt.Errorf("%w: the certificate's role is %q but %q is registered as %s", ErrBadRequest, firstOU(req.Current), req.Name, role))
	}
	if now.After(req.Current.NotAfter) {
		late := now.Sub(req.Current.NotAfter)
		if !req.ByAdmin {
			return fail(fmt.Errorf("%w: it expired at %s; an admin of the organisation can renew it for you (folio ca renew --as admin@ORG) within %s of expiry",
				ErrExpiredTooLong, req.Current.NotAfter.UTC().Format(time.RFC3339), ReenrollGrace))
		}
		if late > ReenrollGrace {
			return fail(fmt.Errorf("%w: it expired at %s, more than %s ago; revoke %q and register a new identity",
				ErrExpiredTooLong, req.Current.NotAfter.UTC().Format(time.RFC3339), ReenrollGrace, req.Name))
		}
	}
	out := &Enrollment{Role: role}
	out.Cert, err = identity.Issue(a.cert, a.key, identity.LeafRequest{Name: rec.Name, Role: role, PublicKey: req.Current.PublicKey, NotBefore: now})
	if err != nil {
		return fail(err)
	}
	if tlsCSR != nil {
		if !role.IsNode() {
			return fail(fmt.Errorf("%w: a TLS certificate is for peers and orderers, and %q is a %s", ErrBadRequest, req.Name, role))
		}
		if err := a.issuedTo(rec, req.CurrentTLS); err != nil {
			return fail(fmt.Errorf("TLS: %w", err))
		}
		if !identity.HasExtKeyUsage(req.CurrentTLS, x509.ExtKeyUsageServerAuth) {
			return fail(fmt.Errorf("%w: the current TLS certificate is no TLS server certificate (it is the signing certificate?)", ErrBadRequest))
		}
		dns, ips := tlsCSR.DNSNames, tlsCSR.IPAddresses
		if len(dns)+len(ips) == 0 {
			dns, ips = req.CurrentTLS.DNSNames, req.CurrentTLS.IPAddresses
		}
		out.TLSCert, err = identity.Issue(a.cert, a.key, identity.LeafRequest{Name: rec.Name, Role: role, PublicKey: req.CurrentTLS.PublicKey,
			TLS: true, DNSNames: dns, IPs: ips, NotBefore: now})
		if err != nil {
			return fail(err)
		}
	}
	prev := slices.Clone(rec.Serials)
	rec.Serials = append(rec.Serials, identity.SerialHex(out.Cert.SerialNumber))
	if out.TLSCert != nil {
		rec.Serials = append(rec.Serials, identity.SerialHex(out.TLSCert.SerialNumber))
	}
	if err := a.saveLocked(); err != nil {
		rec.Serials = prev
		return fail(err)
	}
	return out, nil
}

// issuedTo checks that this CA issued cert to rec: signed by the root,
// for rec's name, with a serial the registry recorded for it. A
// certificate this CA signed for another name, or one it never recorded,
// renews nothing.
func (a *Authority) issuedTo(rec *Record, cert *x509.Certificate) error {
	if err := cert.CheckSignatureFrom(a.cert); err != nil || !bytes.Equal(cert.RawIssuer, a.cert.RawSubject) {
		return fmt.Errorf("%w: the certificate was not issued by this CA", ErrBadRequest)
	}
	if cert.Subject.CommonName != rec.Name {
		return fmt.Errorf("%w: the certificate is %q's, not %q's", ErrNotYours, cert.Subject.CommonName, rec.Name)
	}
	if !slices.Contains(rec.Serials, identity.SerialHex(cert.SerialNumber)) {
		return fmt.Errorf("%w: serial %s is not one this CA recorded for %q", ErrBadRequest, identity.SerialHex(cert.SerialNumber), rec.Name)
	}
	return nil
}

// sameKeyAs checks that a request is for the certificate's key: a renewal
// keeps the key, and a new key is a new enrolment.
func sameKeyAs(csr *x509.CertificateRequest, cert *x509.Certificate) error {
	want, err := fcrypto.KeyID(cert.PublicKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	got, err := fcrypto.KeyID(csr.PublicKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if got != want {
		return fmt.Errorf("%w: the request is for another key than the certificate's; renewal keeps the key, and a new key is a new identity (register and enroll it; for an orderer: folio orderer remove and add)", ErrBadRequest)
	}
	return nil
}

func firstOU(cert *x509.Certificate) string {
	if len(cert.Subject.OrganizationalUnit) == 0 {
		return ""
	}
	return cert.Subject.OrganizationalUnit[0]
}
