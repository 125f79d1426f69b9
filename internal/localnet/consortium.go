package localnet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/atomicfile"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// Exported for internal/consortium (`folio org init`), which lays out one
// organisation's directory as Generate lays out a whole network, so that
// `folio network start` and `--network DIR --as user1@Org` work on it.

// EnrollToWallet enrols name with secret at the CA cli and stores the
// identity in w under name@org.Name.
func EnrollToWallet(ctx context.Context, cli *client.CA, w *wallet.Wallet, org Org, name, secret string) (*client.Identity, error) {
	return enrollToWallet(ctx, cli, w, org, name, secret)
}

// CANodeName is the name of an organisation's CA node ("ca.org1").
func CANodeName(org string) string { return caNodeName(org) }

// EnrollNode registers node name with role at its organisation's CA (cli,
// as admin), enrolls it with a TLS certificate for tlsHosts, writes its
// identity and TLS key pairs to dir/nodes/NAME/{msp,tls}, and returns its
// node ID.
func EnrollNode(ctx context.Context, cli *client.CA, admin *client.Identity, dir, name string, role identity.Role, tlsHosts []string) (string, error) {
	secret, err := cli.Register(ctx, admin, name, string(role))
	if err != nil {
		return "", fmt.Errorf("register %s: %w", name, err)
	}
	e, err := cli.Enroll(ctx, name, secret, client.EnrollOptions{TLSHosts: tlsHosts})
	if err != nil {
		return "", fmt.Errorf("enroll %s: %w", name, err)
	}
	id, err := fcrypto.KeyID(e.Cert.PublicKey)
	if err != nil {
		return "", err
	}
	nd := filepath.Join(dir, "nodes", name)
	if err := writeKeyPair(filepath.Join(nd, "msp"), e.Cert, e.Key); err != nil {
		return "", err
	}
	if err := writeKeyPair(filepath.Join(nd, "tls"), e.TLSCert, e.TLSKey); err != nil {
		return "", err
	}
	return id, nil
}

// InstallContract places a genesis contract's module where peer node's
// lifecycle finds version 1 (dir/nodes/NODE/data/contracts/NAME/1.wasm).
func InstallContract(dir, node, contract string, wasm []byte) error {
	p := filepath.Join(dir, "nodes", node, "data", "contracts", contract, "1.wasm")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, wasm, 0o644)
}
