package workload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/localnet"
)

// NamePrefix starts the enrolment names of the workload's identities:
// chaos-u1, chaos-u2, ... (chaos-u1-<hex> when the plain name is taken).
const NamePrefix = "chaos-u"

// Enroll returns n client identities spread round-robin over the
// network's peer organisations (chaos-u1@Org1, chaos-u2@Org2, ...). Each
// is taken from the network's wallet when it is already there, so a
// second run reuses the first one's identities; otherwise it is
// registered with its organisation's CA, signed by the organisation's
// admin from the wallet, enrolled (key generated here) and stored in the
// wallet. A name the CA already knows but the wallet lacks (a wallet
// restored from elsewhere) gets a fresh suffix instead of failing.
func Enroll(ctx context.Context, netDir string, n int) ([]*client.Identity, error) {
	if n <= 0 {
		return nil, fmt.Errorf("workload: enroll %d identities: want at least one", n)
	}
	net, err := localnet.Load(netDir)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	var orgs []localnet.Org
	for _, o := range net.Orgs {
		if o.Kind == "peer" {
			orgs = append(orgs, o)
		}
	}
	if len(orgs) == 0 {
		return nil, fmt.Errorf("workload: %s has no peer organisation", netDir)
	}
	w := wallet.Open(filepath.Join(netDir, "wallet"))
	entries, err := w.List()
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	cas := map[string]*client.CA{}
	out := make([]*client.Identity, 0, n)
	for i := 1; i <= n; i++ {
		org := orgs[(i-1)%len(orgs)]
		name := fmt.Sprintf("%s%d", NamePrefix, i)
		if id := fromWallet(w, entries, name, org.Name); id != nil {
			out = append(out, id)
			continue
		}
		ca, ok := cas[org.Name]
		if !ok {
			if ca, err = orgCA(netDir, net, org); err != nil {
				return nil, err
			}
			cas[org.Name] = ca
		}
		id, err := enrollNew(ctx, w, ca, netDir, org, name)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// fromWallet loads name@org, or an earlier fresh-suffixed name-<hex>@org,
// when the wallet holds it as a client identity.
func fromWallet(w *wallet.Wallet, entries []wallet.Entry, name, org string) *client.Identity {
	for _, e := range entries {
		if e.Org != org || e.Role != "client" || (e.Name != name && !strings.HasPrefix(e.Name, name+"-")) {
			continue
		}
		if id, err := w.Load(e.Label()); err == nil {
			return id
		}
	}
	return nil
}

func orgCA(netDir string, net *localnet.Network, org localnet.Org) (*client.CA, error) {
	node, err := net.Node(org.CA)
	if err != nil {
		return nil, fmt.Errorf("workload: CA of %s: %w", org.Name, err)
	}
	root, err := fcrypto.ReadCertificate(filepath.Join(netDir, org.RootCert))
	if err != nil {
		return nil, fmt.Errorf("workload: root certificate of %s: %w", org.Name, err)
	}
	return client.NewCA(node.API, root), nil
}

func enrollNew(ctx context.Context, w *wallet.Wallet, ca *client.CA, netDir string, org localnet.Org, name string) (*client.Identity, error) {
	admin, err := w.Load("admin@" + org.Name)
	if err != nil {
		return nil, fmt.Errorf("workload: the admin of %s registers the workload's identities: %w", org.Name, err)
	}
	secret, err := ca.Register(ctx, admin, name, "client")
	if connect.CodeOf(err) == connect.CodeAlreadyExists {
		var suffix [4]byte
		_, _ = rand.Read(suffix[:])
		name += "-" + hex.EncodeToString(suffix[:])
		secret, err = ca.Register(ctx, admin, name, "client")
	}
	if err != nil {
		return nil, fmt.Errorf("workload: register %s@%s: %w", name, org.Name, err)
	}
	e, err := ca.Enroll(ctx, name, secret, client.EnrollOptions{})
	if err != nil {
		return nil, fmt.Errorf("workload: enroll %s@%s: %w", name, org.Name, err)
	}
	if e.Role != "client" {
		return nil, fmt.Errorf("workload: %s@%s was enrolled as %q, want client", name, org.Name, e.Role)
	}
	if err := w.Put(wallet.Entry{Name: name, Org: org.Name, MSPID: org.MSPID, Role: e.Role}, e.Cert, e.Key); err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	id, err := client.NewIdentity(org.MSPID, e.Cert, e.Key)
	if err != nil {
		return nil, fmt.Errorf("workload: %s@%s: %w", name, org.Name, err)
	}
	return id, nil
}

var errNoPeers = errors.New("the network has no peers")
