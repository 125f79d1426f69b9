// Command licenceapp is an example application of the licence contract,
// written only against Folio's public SDK: it loads identities from a
// wallet, connects to peers' gateways over mutual TLS, grants a licence,
// reads it back, lists the work's licences, checks that nobody but the
// licensor may revoke it, and revokes it.
//
//	go run ./licenceapp --wallet NET/wallet --tls-root NET/crypto/org1/ca/ca.pem ... \
//	    --as user1@Org1 --peer 127.0.0.1:7051 --other user1@Org2 --other-peer 127.0.0.1:7151
//
// It exits 0 when every step behaved as the contract promises, 1 otherwise.
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/examples/licence"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	walletDir, as, other, channel, work, id string
	roots, peers, otherPeers                listFlag
	timeout                                 time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.walletDir, "wallet", "", "wallet directory (e.g. the network directory's wallet)")
	flag.StringVar(&o.as, "as", "user1@Org1", "the licensor's wallet identity")
	flag.StringVar(&o.other, "other", "user1@Org2", "another identity, who must not be able to revoke")
	flag.Var(&o.peers, "peer", "gateway address (host:port) for --as; repeat for failover")
	flag.Var(&o.otherPeers, "other-peer", "gateway address (host:port) for --other; repeat for failover")
	flag.Var(&o.roots, "tls-root", "PEM file of a root CA the peers' TLS certificates chain to; repeatable")
	flag.StringVar(&o.channel, "channel", "folio", "channel")
	flag.StringVar(&o.work, "work", "W-EXAMPLE", "work the licence is granted on")
	flag.StringVar(&o.id, "licence", "", "licence ID (default: derived from the time)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "bound on the whole run")
	flag.Parse()
	if o.walletDir == "" || len(o.peers) == 0 || len(o.otherPeers) == 0 || len(o.roots) == 0 {
		fmt.Fprintln(os.Stderr, "licenceapp: --wallet, --peer, --other-peer and --tls-root are required")
		flag.Usage()
		os.Exit(2)
	}
	if o.id == "" {
		o.id = fmt.Sprintf("L-%d", time.Now().UnixNano())
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "licenceapp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	roots := x509.NewCertPool()
	for _, f := range o.roots {
		pem, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--tls-root: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--tls-root %s: no PEM certificate", f)
		}
	}
	w := wallet.Open(o.walletDir)
	licensor, err := gatewayFor(w, o.as, o.peers, o.channel, roots)
	if err != nil {
		return err
	}
	other, err := gatewayFor(w, o.other, o.otherPeers, o.channel, roots)
	if err != nil {
		return err
	}

	// 1. Grant: endorsed by both organisations, ordered, committed.
	res, err := licensor.Submit(ctx, "licence", licence.FnGrant, jsonArg(licence.GrantArgs{
		ID: o.id, Work: o.work, Licensee: o.other, Territory: "EU", Until: "2030-12-31"}), client.SubmitOptions{})
	if err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	fmt.Printf("granted %s on %s in block %d (tx %s)\n", o.id, o.work, res.Block, res.TxID)

	// 2. Read it back at a peer of the other organisation, once that peer
	// has the block (a read is only as new as the peer answering it).
	var got licence.Licence
	if err := eventually(ctx, func() error { return evaluate(ctx, other, licence.FnGet, licence.IDArgs{ID: o.id}, &got) }); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if got.Licensor != o.as || got.Licensee != o.other || got.Work != o.work || got.Revoked {
		return fmt.Errorf("get: read back %+v", got)
	}
	fmt.Printf("read back: licensor %s, licensee %s, until %s\n", got.Licensor, got.Licensee, got.Until)

	// 3. The work's licences include it.
	var list []licence.Licence
	if err := evaluate(ctx, licensor, licence.FnByWork, licence.WorkArgs{Work: o.work}, &list); err != nil {
		return fmt.Errorf("by_work: %w", err)
	}
	found := false
	for _, l := range list {
		found = found || l.ID == o.id
	}
	if !found {
		return fmt.Errorf("by_work %s: %s missing from %d licences", o.work, o.id, len(list))
	}
	fmt.Printf("work %s has %d licence(s)\n", o.work, len(list))

	// 4. The licensee may not revoke: the contract refuses, so no peer
	// endorses and nothing is ordered.
	_, err = other.Submit(ctx, "licence", licence.FnRevoke, jsonArg(licence.IDArgs{ID: o.id}), client.SubmitOptions{})
	if err == nil || !strings.Contains(err.Error(), "only the licensor") {
		return fmt.Errorf("revoke by %s: want a refusal naming the licensor, got %v", o.other, err)
	}
	fmt.Printf("revoke by %s refused: %v\n", o.other, firstLine(err))

	// 5. The licensor revokes.
	res, err = licensor.Submit(ctx, "licence", licence.FnRevoke, jsonArg(licence.IDArgs{ID: o.id}), client.SubmitOptions{})
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	var after licence.Licence
	if err := json.Unmarshal(res.Payload, &after); err != nil || !after.Revoked {
		return fmt.Errorf("revoke answered %q (%v)", res.Payload, err)
	}
	fmt.Printf("revoked %s in block %d\n", o.id, res.Block)
	return nil
}

// gatewayFor connects as the wallet identity label to the gateways addrs.
func gatewayFor(w *wallet.Wallet, label string, addrs []string, channel string, roots *x509.CertPool) (*client.Gateway, error) {
	id, err := w.Load(label)
	if err != nil {
		return nil, err
	}
	return client.NewGatewayWithOptions(client.HTTPClient(id, roots), id, client.GatewayOptions{
		Channel: channel, Endpoints: client.Endpoints(addrs...)})
}

// jsonArg is the contract's one argument: v as JSON. The argument types
// of package licence are plain structs of strings, which always marshal.
func jsonArg(v any) [][]byte {
	b, _ := json.Marshal(v)
	return [][]byte{b}
}

func evaluate(ctx context.Context, gw *client.Gateway, fn string, args, out any) error {
	b, err := gw.Evaluate(ctx, "licence", fn, jsonArg(args)...)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// eventually retries f until it succeeds or ctx ends.
func eventually(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
