package identity

import (
	"crypto/x509"
	"fmt"
)

// RequireServerAuth is the check a TLS client's VerifyConnection hook runs
// on the server's certificates (tls.ConnectionState.PeerCertificates; the
// package does not import crypto/tls, which must stay out of the enclave):
// the server's certificate must state the server-auth usage, so a client
// or admin certificate (client auth only) cannot pose as a node or CA.
// crypto/tls already refuses such a chain when it verifies it against
// RootCAs (x509.VerifyOptions defaults to server auth); the hook states the
// rule where the configuration is built and keeps it if chain verification
// is ever replaced.
func RequireServerAuth(peerCertificates []*x509.Certificate) error {
	if len(peerCertificates) == 0 {
		return fmt.Errorf("%w: the server presented no certificate", ErrKeyUsage)
	}
	if err := CheckExtKeyUsage(peerCertificates[0], x509.ExtKeyUsageServerAuth); err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	return nil
}
