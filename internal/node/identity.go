package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// loadVerifier builds the MSP from the consortium's root certificates.
func loadVerifier(file string, cfg *config.Node) (*identity.Verifier, error) {
	orgs := make([]identity.Org, 0, len(cfg.Consortium))
	for i, o := range cfg.Consortium {
		root, err := fcrypto.ReadCertificate(o.RootCert)
		if err != nil {
			return nil, fieldErr(file, fmt.Sprintf("consortium[%d].root_cert", i), err, "point it at "+o.Name+"'s root CA certificate (PEM)")
		}
		orgs = append(orgs, identity.Org{Name: o.Name, MSPID: o.MSPID, Root: root})
	}
	v, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		return nil, fieldErr(file, "consortium", err, "")
	}
	return v, nil
}

// loadNodeIdentity loads the node's signing identity and TLS certificate and
// checks both are valid, current, unrevoked identities of the node's own
// organisation with the node's role and name.
func loadNodeIdentity(file string, cfg *config.Node, v *identity.Verifier) (*identity.SigningIdentity, tls.Certificate, error) {
	var none tls.Certificate
	signer, err := loadSigner(file, "identity", cfg.Identity, cfg.MSPID, v)
	if err != nil {
		return nil, none, err
	}
	if string(signer.Role) != cfg.Role {
		return nil, none, fieldErr(file, "identity.cert", fmt.Errorf("certificate has role %s but the node is a %s", signer.Role, cfg.Role),
			"use a certificate enrolled with role "+cfg.Role)
	}
	if signer.Name != cfg.Name {
		return nil, none, fieldErr(file, "identity.cert", fmt.Errorf("certificate is for %q but the node is %q", signer.Name, cfg.Name),
			"use the node's own certificate")
	}
	tlsID, err := loadSigner(file, "tls", cfg.TLS, cfg.MSPID, v)
	if err != nil {
		return nil, none, err
	}
	if tlsID.Name != cfg.Name {
		return nil, none, fieldErr(file, "tls.cert", fmt.Errorf("TLS certificate is for %q but the node is %q", tlsID.Name, cfg.Name), "use the node's own TLS certificate")
	}
	// The node serves its API and p2p sessions with this certificate and
	// dials other nodes with it: peers refuse it without both usages.
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if err := identity.CheckExtKeyUsage(tlsID.Cert, u); err != nil {
			return nil, none, fieldErr(file, "tls.cert", err, "use the TLS certificate issued to the node at enrolment (tls/cert.pem), not its signing certificate")
		}
	}
	return signer, tls.Certificate{Certificate: [][]byte{tlsID.Cert.Raw}, PrivateKey: tlsID.Key(), Leaf: tlsID.Cert}, nil
}

func loadSigner(file, field string, kp config.KeyPair, mspID string, v *identity.Verifier) (*identity.SigningIdentity, error) {
	cert, err := fcrypto.ReadCertificate(kp.Cert)
	if err != nil {
		return nil, fieldErr(file, field+".cert", err, "")
	}
	key, err := fcrypto.ReadPrivateKey(kp.Key)
	if err != nil {
		return nil, fieldErr(file, field+".key", err, "")
	}
	id, err := v.Validate(mspID, cert)
	if err != nil {
		return nil, fieldErr(file, field+".cert", err, "use a certificate issued by "+mspID+"'s CA")
	}
	si, err := identity.NewSigningIdentity(*id, key)
	if err != nil {
		return nil, fieldErr(file, field+".key", err, "use the key the certificate was issued for")
	}
	return si, nil
}

func fieldErr(file, field string, err error, fix string) error {
	msg := fmt.Sprintf("config %s: field %s: %v", file, field, err)
	if fix != "" {
		msg += " (" + fix + ")"
	}
	return &startError{msg: msg, err: err}
}

type startError struct {
	msg string
	err error
}

func (e *startError) Error() string { return e.msg }
func (e *startError) Unwrap() error { return e.err }

// certPool returns a pool holding one certificate.
func certPool(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}
