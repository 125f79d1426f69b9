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
)

// HTTPClient returns an HTTP/2 client that trusts roots and, when id is an
// identity (not nil or zero), presents its certificate as the TLS client
// certificate.
func HTTPClient(id *Identity, roots *x509.CertPool) *http.Client {
	conf := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
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
