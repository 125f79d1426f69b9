package localnet

import (
	"context"
	"crypto"
	"crypto/x509"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
)

// Exported for internal/consortium (`folio org init`), which lays out one
// organisation's directory as Generate lays out a whole network, so that
// `folio network start` and `--network DIR --as user1@Org` work on it.

// EnrollToWallet enrols name with secret at the CA cli and stores the
// identity in w under name@org.Name.
func EnrollToWallet(ctx context.Context, cli *client.CA, w *wallet.Wallet, org Org, name, secret string) (*client.Identity, error) {
	return enrollToWallet(ctx, cli, w, org, name, secret)
}

// WriteKeyPair writes dir/cert.pem and dir/key.pem (mode 0600), creating
// dir with mode 0700.
func WriteKeyPair(dir string, cert *x509.Certificate, key crypto.Signer) error {
	return writeKeyPair(dir, cert, key)
}

// CANodeName is the name of an organisation's CA node ("ca.org1").
func CANodeName(org string) string { return caNodeName(org) }
