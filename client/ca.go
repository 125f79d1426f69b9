package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/types"
)

// CA talks to one organisation's certificate authority.
type CA struct {
	svc foliov1connect.CAServiceClient
}

// NewCA returns a client for the CA at addr (host:port), trusting only the
// organisation's root certificate, and only a server certificate with the
// server-auth usage (the CA's TLS-only certificate, see HTTPClient): no
// enrolled member of the organisation can pose as its CA. No client
// certificate is presented: admin operations are authenticated by
// signatures.
func NewCA(addr string, root *x509.Certificate) *CA {
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &CA{svc: foliov1connect.NewCAServiceClient(HTTPClient(nil, pool), "https://"+addr)}
}

// NewCAWith wraps any CAService implementation, remote or in-process.
func NewCAWith(svc foliov1connect.CAServiceClient) *CA { return &CA{svc: svc} }

// Info returns the CA's certificate and current revocation list.
func (c *CA) Info(ctx context.Context) (*foliov1.CAInfo, error) {
	resp, err := c.svc.GetCAInfo(ctx, connect.NewRequest(&foliov1.GetCAInfoRequest{}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// Register registers name with role (client, admin, peer or orderer),
// signed by admin, and returns the
// one-time enrolment secret.
func (c *CA) Register(ctx context.Context, admin *Identity, name, role string) (string, error) {
	req, err := signCARequest(admin, &foliov1.CARequest{Op: &foliov1.CARequest_Register{Register: &foliov1.RegisterOp{Name: name, Role: role}}})
	if err != nil {
		return "", err
	}
	resp, err := c.svc.Register(ctx, connect.NewRequest(req))
	if err != nil {
		return "", err
	}
	return resp.Msg.Secret, nil
}

// Revoke revokes every certificate of name, signed by admin.
func (c *CA) Revoke(ctx context.Context, admin *Identity, name, reason string) (*foliov1.RevokeResponse, error) {
	req, err := signCARequest(admin, &foliov1.CARequest{Op: &foliov1.CARequest_Revoke{Revoke: &foliov1.RevokeOp{Name: name, Reason: reason}}})
	if err != nil {
		return nil, err
	}
	resp, err := c.svc.Revoke(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// List lists the CA's registered identities, signed by admin.
func (c *CA) List(ctx context.Context, admin *Identity) ([]*foliov1.IdentityRecord, error) {
	req, err := signCARequest(admin, &foliov1.CARequest{Op: &foliov1.CARequest_List{List: &foliov1.ListOp{}}})
	if err != nil {
		return nil, err
	}
	resp, err := c.svc.ListIdentities(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg.Identities, nil
}

// EnrollOptions ask for more than a signing certificate.
type EnrollOptions struct {
	// TLSHosts, when set, also requests a TLS certificate for a fresh key,
	// valid for these DNS names and IP addresses. Nodes need one; the CA
	// issues one only to peers and orderers (a client's signing
	// certificate is its TLS client certificate).
	TLSHosts []string
}

// Enrolled is the result of an enrolment: keys generated here and the
// certificates the CA issued for them.
type Enrolled struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	TLSCert *x509.Certificate
	TLSKey  crypto.Signer
	// Role is the role the CA gave the name: client, admin, peer or orderer.
	Role   string
	CACert *x509.Certificate
}

// Enroll generates a key pair here, sends only a certificate request and the
// one-time secret, and returns the issued certificate with the key.
func (c *CA) Enroll(ctx context.Context, name, secret string, opts EnrollOptions) (*Enrolled, error) {
	key, err := fcrypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	csr, err := newCSR(name, key, nil)
	if err != nil {
		return nil, err
	}
	req := &foliov1.EnrollRequest{Name: name, Secret: secret, CsrDer: csr}
	var tlsKey crypto.Signer
	if len(opts.TLSHosts) > 0 {
		if tlsKey, err = fcrypto.GenerateKey(); err != nil {
			return nil, err
		}
		if req.TlsCsrDer, err = newCSR(name, tlsKey, opts.TLSHosts); err != nil {
			return nil, err
		}
	}
	resp, err := c.svc.Enroll(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	out := &Enrolled{Key: key, TLSKey: tlsKey, Role: resp.Msg.Role}
	if out.Cert, err = fcrypto.ParseCertificatePEM(resp.Msg.CertPem); err != nil {
		return nil, fmt.Errorf("enroll %s: certificate from CA: %w", name, err)
	}
	if out.CACert, err = fcrypto.ParseCertificatePEM(resp.Msg.CaCertPem); err != nil {
		return nil, fmt.Errorf("enroll %s: CA certificate: %w", name, err)
	}
	if err := out.Cert.CheckSignatureFrom(out.CACert); err != nil {
		return nil, fmt.Errorf("enroll %s: certificate not signed by the CA: %w", name, err)
	}
	if tlsKey != nil {
		if out.TLSCert, err = fcrypto.ParseCertificatePEM(resp.Msg.TlsCertPem); err != nil {
			return nil, fmt.Errorf("enroll %s: TLS certificate from CA: %w", name, err)
		}
		if err := out.TLSCert.CheckSignatureFrom(out.CACert); err != nil {
			return nil, fmt.Errorf("enroll %s: TLS certificate not signed by the CA: %w", name, err)
		}
	}
	return out, nil
}

func newCSR(name string, key crypto.Signer, hosts []string) ([]byte, error) {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request for %s: %w", name, err)
	}
	return der, nil
}

func signCARequest(admin *Identity, r *foliov1.CARequest) (*foliov1.SignedCARequest, error) {
	if !admin.valid() {
		return nil, ErrNoIdentity
	}
	nonce := make([]byte, 24)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	r.Signer, r.Nonce, r.TimestampUnixNano = admin.Serialized(), nonce, time.Now().UnixNano()
	b, err := proto.Marshal(r)
	if err != nil {
		return nil, err
	}
	sig, err := admin.signer().Sign(types.DomainCARequest, b)
	if err != nil {
		return nil, err
	}
	return &foliov1.SignedCARequest{Request: b, Signature: sig}, nil
}

// Renewal is what Reenroll renews: an identity's current certificates and
// the keys they are for. The keys stay where they are; only certificate
// requests signed with them travel to the CA.
type Renewal struct {
	// Cert and Key are the identity's current signing certificate and its
	// key. Required.
	Cert *x509.Certificate
	Key  crypto.Signer
	// TLSCert and TLSKey, for a node, also renew its TLS certificate for
	// the same TLS key. TLSHosts, if set, replaces its DNS names and IP
	// addresses (at most 16); by default the CA keeps the current ones.
	TLSCert  *x509.Certificate
	TLSKey   crypto.Signer
	TLSHosts []string
}

// Reenroll asks the CA for new certificates for the same keys (Fabric's
// reenroll): same name and role, new serial and validity. signer signs
// the request: the identity itself (its current certificate must be valid
// and unrevoked), or an admin of the organisation renewing another
// identity, whose certificate may have expired up to the CA's grace period
// (30 days). The returned Enrolled holds the new certificates with
// r's keys. Nothing is written: store the result (wallet.Wallet.Renew, or
// the node's certificate files, which a running node picks up).
func (c *CA) Reenroll(ctx context.Context, signer *Identity, r Renewal) (*Enrolled, error) {
	if r.Cert == nil || r.Key == nil {
		return nil, fmt.Errorf("reenroll: the current certificate and its key are required")
	}
	if (r.TLSCert == nil) != (r.TLSKey == nil) {
		return nil, fmt.Errorf("reenroll %s: the TLS certificate and its key go together", r.Cert.Subject.CommonName)
	}
	name := r.Cert.Subject.CommonName
	csr, err := newCSR(name, r.Key, nil)
	if err != nil {
		return nil, err
	}
	op := &foliov1.ReenrollOp{Name: name, CsrDer: csr}
	// The identity renewing itself signs with the certificate it renews;
	// anyone else (an admin) presents it.
	if signer == nil || !bytes.Equal(signer.Certificate().Raw, r.Cert.Raw) {
		op.CurrentCertPem = fcrypto.EncodeCertificatePEM(r.Cert.Raw)
	}
	if r.TLSCert != nil {
		op.CurrentTlsCertPem = fcrypto.EncodeCertificatePEM(r.TLSCert.Raw)
		if op.TlsCsrDer, err = newCSR(name, r.TLSKey, r.TLSHosts); err != nil {
			return nil, err
		}
	}
	req, err := signCARequest(signer, &foliov1.CARequest{Op: &foliov1.CARequest_Reenroll{Reenroll: op}})
	if err != nil {
		return nil, err
	}
	resp, err := c.svc.Reenroll(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	out := &Enrolled{Key: r.Key, TLSKey: r.TLSKey, Role: resp.Msg.Role}
	if out.CACert, err = fcrypto.ParseCertificatePEM(resp.Msg.CaCertPem); err != nil {
		return nil, fmt.Errorf("reenroll %s: CA certificate: %w", name, err)
	}
	// Check what came back before anyone stores it: a certificate for
	// another key or name would strand the identity.
	if out.Cert, err = renewedCert(resp.Msg.CertPem, out.CACert, r.Cert); err != nil {
		return nil, fmt.Errorf("reenroll %s: %w", name, err)
	}
	if r.TLSCert != nil {
		if out.TLSCert, err = renewedCert(resp.Msg.TlsCertPem, out.CACert, r.TLSCert); err != nil {
			return nil, fmt.Errorf("reenroll %s: TLS: %w", name, err)
		}
	}
	return out, nil
}

// renewedCert parses a certificate the CA renewed and checks it is old's
// renewal: signed by the CA, same key and subject.
func renewedCert(pemBytes []byte, caCert, old *x509.Certificate) (*x509.Certificate, error) {
	cert, err := fcrypto.ParseCertificatePEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("certificate from CA: %w", err)
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		return nil, fmt.Errorf("certificate not signed by the CA: %w", err)
	}
	if !bytes.Equal(cert.RawSubjectPublicKeyInfo, old.RawSubjectPublicKeyInfo) || cert.Subject.String() != old.Subject.String() {
		return nil, fmt.Errorf("the CA returned a certificate for %q with another key or subject than %q", cert.Subject, old.Subject)
	}
	return cert, nil
}
