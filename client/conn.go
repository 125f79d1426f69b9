package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/identity"
)

// HTTPClient returns an HTTP/2 client that trusts roots and, when id is an
// identity (not nil or zero), presents its certificate as the TLS client
// certificate. The server (peer, orderer or CA) must present a certificate
// chaining to roots, for the address dialed, with the server-auth usage:
// an enrolled client's or admin's certificate (client auth only) cannot
// pose as a node.
func HTTPClient(id *Identity, roots *x509.CertPool) *http.Client {
	conf := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, VerifyConnection: requireServerAuth}
	if id.valid() {
		conf.Certificates = []tls.Certificate{{Certificate: [][]byte{id.si.Cert.Raw}, PrivateKey: id.si.Key(), Leaf: id.si.Cert}}
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     conf,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 64,
	}}
}

// NodeInfo asks a node who it is and whether it is ready.
func NodeInfo(ctx context.Context, hc *http.Client, addr string) (*foliov1.NodeInfo, error) {
	c := foliov1connect.NewNodeServiceClient(hc, "https://"+addr)
	resp, err := c.GetInfo(ctx, connect.NewRequest(&foliov1.GetInfoRequest{}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// requireServerAuth refuses a server whose certificate lacks the
// server-auth usage (identity.RequireServerAuth).
func requireServerAuth(cs tls.ConnectionState) error {
	return identity.RequireServerAuth(cs.PeerCertificates)
}
