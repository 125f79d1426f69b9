package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/node"
)

func newCACmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Organisation CAs: register, enroll, revoke and verify identities",
		Long: `Each organisation runs a CA (modelled on Fabric CA). An admin registers an
identity and receives a one-time secret; the user enrolls with that secret, and
the key pair is generated locally and never leaves this machine. Revoked
identities are refused by every node.`,
	}
	cmd.AddCommand(newCAServeCmd(), newCARegisterCmd(g), newCAEnrollCmd(g), newCARevokeCmd(g), newCAListCmd(g), newCAVerifyCmd(g), newCARenewCmd(g), newCARenewTLSCmd(g))
	return cmd
}

// caSignerDoc says who signs the CA's admin operations (register, list,
// revoke). They default to the organisation's admin, unlike the other
// commands (user1@Org1): only an admin may do them, so the global default
// would always be refused; the admin is the one identity that can succeed.
const caSignerDoc = `an admin of the organisation. Without --as, folio signs as
admin@ORG of the organisation given with --org (without --org, of the
organisation of the default identity user1@Org1, so admin@Org1): not as
user1@Org1, the default of the other commands, because the CA accepts these
requests from admins only. With --as, that identity signs (and the CA refuses
it unless it is an admin of ORG).`

// caTarget resolves --org to its CA client and, for admin operations, the
// signing admin: --as if given explicitly, else admin@<org>.
type caTarget struct {
	dir  string
	net  *localnet.Network
	org  *localnet.Org
	ca   *client.CA
	root *identity.Org
}

func (g *globals) caTarget(cmd *cobra.Command, orgName string) (*caTarget, error) {
	dir, n, err := g.loadNetwork()
	if err != nil {
		return nil, err
	}
	if orgName == "" {
		orgName = orgOf(g.as)
	}
	org, err := n.Org(orgName)
	if err != nil {
		return nil, err
	}
	caNode, err := n.Node(org.CA)
	if err != nil {
		return nil, err
	}
	root, err := fcrypto.ReadCertificate(filepath.Join(dir, org.RootCert))
	if err != nil {
		return nil, err
	}
	return &caTarget{dir: dir, net: n, org: org, ca: client.NewCA(caNode.API, root),
		root: &identity.Org{Name: org.Name, MSPID: org.MSPID, Root: root}}, nil
}

// caTargetAsAdmin is caTarget with the admin who signs its requests.
func (g *globals) caTargetAsAdmin(cmd *cobra.Command, orgName string) (*caTarget, *client.Identity, error) {
	t, err := g.caTarget(cmd, orgName)
	if err != nil {
		return nil, nil, err
	}
	admin, err := g.caAdmin(cmd, t)
	if err != nil {
		return nil, nil, err
	}
	return t, admin, nil
}

func (g *globals) caAdmin(cmd *cobra.Command, t *caTarget) (*client.Identity, error) {
	label := "admin@" + t.org.Name
	if cmd.Flags().Changed("as") || cmd.Root().PersistentFlags().Changed("as") {
		label = g.as
	}
	return g.signer(t.dir, label)
}

func rpcContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 30*time.Second)
}

func newCARegisterCmd(g *globals) *cobra.Command {
	var org, name, role string
	cmd := &cobra.Command{
		Use:   "register --org ORG --name NAME [--role client|admin|peer|orderer]",
		Short: "Register an identity (signed by an admin of the organisation); prints its one-time secret",
		Long: `Registers NAME with the organisation's CA and prints a one-time enrolment
secret for 'folio ca enroll'.

Who signs: ` + caSignerDoc,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, admin, err := g.caTargetAsAdmin(cmd, org)
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			secret, err := t.ca.Register(ctx, admin, name, role)
			if err != nil {
				return fmt.Errorf("register %s@%s: %w", name, t.org.Name, err)
			}
			out := map[string]string{"name": name, "org": t.org.Name, "role": role, "secret": secret, "registrar": admin.Label()}
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "registered %s@%s as %s (signed by %s)\none-time enrolment secret: %s\nenroll with: folio ca enroll --org %s --name %s --secret %s\n",
					name, t.org.Name, role, admin.Label(), secret, t.org.Name, name, secret)
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organisation (default: the --as identity's)")
	cmd.Flags().StringVar(&name, "name", "", "enrolment name of the new identity")
	cmd.Flags().StringVar(&role, "role", "client", "role: client, admin, peer or orderer")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newCAEnrollCmd(g *globals) *cobra.Command {
	var org, name, secret string
	cmd := &cobra.Command{
		Use:   "enroll --org ORG --name NAME --secret S",
		Short: "Enroll a registered identity: create its key here and store key and certificate in the wallet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.caTarget(cmd, org)
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			e, err := t.ca.Enroll(ctx, name, secret, client.EnrollOptions{})
			if err != nil {
				return fmt.Errorf("enroll %s@%s: %w", name, t.org.Name, err)
			}
			entry := wallet.Entry{Name: name, Org: t.org.Name, MSPID: t.org.MSPID, Role: string(e.Role)}
			w := g.wallet(t.dir)
			if err := w.Put(entry, e.Cert, e.Key); err != nil {
				return err
			}
			out := map[string]string{"identity": entry.Label(), "role": entry.Role, "serial": identity.SerialHex(e.Cert.SerialNumber),
				"expires": e.Cert.NotAfter.UTC().Format(time.RFC3339), "wallet": filepath.Join(w.Dir(), entry.Label())}
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "enrolled %s (%s), certificate serial %s, expires %s\nuse it with --as %s\n",
					entry.Label(), entry.Role, out["serial"], out["expires"], entry.Label())
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organisation (default: the --as identity's)")
	cmd.Flags().StringVar(&name, "name", "", "enrolment name")
	cmd.Flags().StringVar(&secret, "secret", "", "one-time secret printed by 'folio ca register'")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("secret")
	return cmd
}

func newCARevokeCmd(g *globals) *cobra.Command {
	var org, name, reason string
	var wait bool
	cmd := &cobra.Command{
		Use:   "revoke --org ORG --name NAME [--reason TEXT] [--wait=false]",
		Short: "Revoke every certificate of an identity (signed by an admin) and record the revocation on chain",
		Long: `Revoke every certificate of an identity. The organisation's CA revokes
them and issues a new revocation list; the command then submits that list
as a config transaction, approved by the organisation's admin, and (by
default) waits until it is committed. From the block after the one that
commits it, every peer refuses the identity when validating, whatever its
clock or when it last polled the CA; endorsers and gateways refuse it at
once. The JSON output adds "block", the block that committed it.

Who signs: ` + caSignerDoc,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, admin, err := g.caTargetAsAdmin(cmd, org)
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			res, err := t.ca.Revoke(ctx, admin, name, reason)
			if err != nil {
				return fmt.Errorf("revoke %s@%s: %w", name, t.org.Name, err)
			}
			out := map[string]any{"name": name, "org": t.org.Name, "revoked_serials": res.Serials}
			block, txID, err := g.recordRevocation(ctx, t, admin, res.CrlDer, wait)
			if err != nil {
				return fmt.Errorf("revoked %s@%s at its CA, but recording the revocation on chain failed (run the command again to retry): %w", name, t.org.Name, err)
			}
			out["tx_id"] = txID
			if wait {
				out["block"] = block
			}
			return g.emit(out, func(w io.Writer) {
				if !wait {
					fmt.Fprintf(w, "revoked %s@%s (certificate serials %v); config transaction %s submitted\n", name, t.org.Name, res.Serials, txID)
					return
				}
				fmt.Fprintf(w, "revoked %s@%s (certificate serials %v); the revocation is on chain in block %d: every peer refuses it from block %d on\n",
					name, t.org.Name, res.Serials, block, block+1)
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organisation (default: the --as identity's)")
	cmd.Flags().StringVar(&name, "name", "", "enrolment name to revoke")
	cmd.Flags().StringVar(&reason, "reason", "", "why, kept in the CA's registry")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until the config transaction carrying the revocation is committed")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// recordRevocation puts an organisation's new revocation list on chain: a
// config update to the configuration in force that changes only that list,
// approved by the organisation's admin. An update that lost a race with
// another one (sequence taken) is rebuilt on the newer configuration; a
// configuration that already holds this list or a newer one needs nothing.
func (g *globals) recordRevocation(ctx context.Context, t *caTarget, admin *client.Identity, crl []byte, wait bool) (uint64, string, error) {
	roots, err := localnet.RootPool(t.dir, t.net)
	if err != nil {
		return 0, "", err
	}
	hc := client.HTTPClient(admin, roots)
	peers, err := g.gatewayPeers(t.net, admin.Org())
	if err != nil {
		return 0, "", err
	}
	newList, err := x509.ParseRevocationList(crl)
	if err != nil || newList.Number == nil {
		return 0, "", fmt.Errorf("the CA returned a revocation list that does not parse: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		var info *foliov1.ChannelConfigInfo
		var via localnet.Node
		for _, p := range peers {
			if info, err = client.ChannelConfig(ctx, hc, "https://"+p.API); err == nil {
				via = p
				break
			}
			lastErr = err
		}
		if info == nil {
			return 0, "", fmt.Errorf("no peer of %s answered: %w", admin.Org(), lastErr)
		}
		next := proto.Clone(info.Config).(*foliov1.ChannelConfig)
		var target *foliov1.OrgConfig
		for _, o := range next.Orgs {
			if o.MspId == t.org.MSPID {
				target = o
			}
		}
		if target == nil {
			return 0, "", fmt.Errorf("%s is not an organisation of channel %s", t.org.MSPID, next.ChannelId)
		}
		if len(target.Crl) > 0 {
			if cur, err := x509.ParseRevocationList(target.Crl); err == nil && cur.Number != nil && cur.Number.Cmp(newList.Number) >= 0 {
				return info.FromBlock - 1, "", nil // this list or a newer one is in force already
			}
		}
		target.Crl = crl
		env, txID, err := client.NewConfigEnvelope(admin, client.NewConfigUpdate(info, next, 0), nil)
		if err != nil {
			return 0, "", err
		}
		if !wait {
			_, err := foliov1connect.NewGatewayServiceClient(hc, "https://"+via.API).Submit(ctx, connect.NewRequest(&foliov1.SubmitRequest{Envelope: env}))
			return 0, txID, err
		}
		gw, _, err := g.gatewayClient(hc, t.net, admin)
		if err != nil {
			return 0, "", err
		}
		res, err := gw.SubmitEnvelope(ctx, env, txID)
		var inv *client.InvalidError
		if errors.As(err, &inv) && res.Code == foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION && strings.Contains(res.Reason, "sequence") {
			lastErr = err // another config update took this sequence: build on the new configuration
			continue
		}
		if err != nil {
			return 0, txID, err
		}
		return res.Block, txID, nil
	}
	return 0, "", lastErr
}

func newCAListCmd(g *globals) *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List the organisation's registered identities (signed by an admin)",
		Long: `Lists the identities registered with the organisation's CA and their status.

Who signs: ` + caSignerDoc,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, admin, err := g.caTargetAsAdmin(cmd, org)
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			recs, err := t.ca.List(ctx, admin)
			if err != nil {
				return fmt.Errorf("list %s: %w", t.org.Name, err)
			}
			type row struct {
				Name   string `json:"name"`
				Role   string `json:"role"`
				Status string `json:"status"`
			}
			rows := make([]row, 0, len(recs))
			for _, r := range recs {
				rows = append(rows, row{r.Name, r.Role, r.Status})
			}
			return g.emit(map[string]any{"identities": rows}, func(w io.Writer) {
				for _, r := range rows {
					fmt.Fprintf(w, "%-20s %-8s %s\n", r.Name, r.Role, r.Status)
				}
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organisation (default: the --as identity's)")
	return cmd
}

func newCAVerifyCmd(g *globals) *cobra.Command {
	var org, name, principal string
	cmd := &cobra.Command{
		Use:   "verify --org ORG --name NAME [--principal 'Org1MSP.member']",
		Short: "Check an identity with the MSP: right organisation and role, not expired, not revoked (exit 2 if invalid)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.caTarget(cmd, org)
			if err != nil {
				return err
			}
			label := name + "@" + t.org.Name
			id, err := g.wallet(t.dir).Load(label)
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			info, err := t.ca.Info(ctx)
			if err != nil {
				return fmt.Errorf("fetch %s's revocation list: %w", t.org.Name, err)
			}
			v, err := identity.NewVerifier([]identity.Org{*t.root}, nil)
			if err != nil {
				return err
			}
			if err := v.UpdateCRL(t.org.MSPID, info.CrlDer); err != nil {
				return err
			}
			verr := func() error {
				got, err := v.Validate(t.org.MSPID, id.Certificate())
				if err != nil || principal == "" {
					return err
				}
				p, err := identity.ParsePrincipal(principal)
				if err != nil {
					return err
				}
				return v.Require(got, p)
			}()
			out := map[string]any{"identity": label, "valid": verr == nil}
			if verr != nil {
				out["reason"] = verr.Error()
			}
			if err := g.emit(out, func(w io.Writer) {
				if verr == nil {
					fmt.Fprintf(w, "%s is valid (%s of %s, not expired, not revoked)\n", label, id.Role(), t.org.MSPID)
				}
			}); err != nil {
				return err
			}
			if verr != nil {
				return &exitError{code: 2, err: errors.New("invalid identity: " + verr.Error())}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organisation (default: the --as identity's)")
	cmd.Flags().StringVar(&name, "name", "", "enrolment name (its certificate is read from the wallet)")
	cmd.Flags().StringVar(&principal, "principal", "", "also require this principal, e.g. 'Org1MSP.admin'")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newCARenewCmd(g *globals) *cobra.Command {
	var org, name, nodeDir string
	var inWallet, withTLS bool
	var hosts []string
	cmd := &cobra.Command{
		Use:   "renew --org ORG --name NAME (--node-dir DIR [--tls] [--host H]... | --wallet)",
		Short: "Renew a node's or a wallet identity's certificate for the same key; a running node picks it up without a restart",
		Long: `Ask the organisation's CA for a new certificate for the same key (Fabric's
reenroll): same name and role, a new serial and validity. The key never
leaves this machine; only a certificate request signed with it is sent.

--node-dir DIR renews the node certificate files in DIR (msp/cert.pem for
msp/key.pem, and with --tls also tls/cert.pem for tls/key.pem, keeping its
host names and addresses unless --host is given, at most 16). Each file is
replaced atomically. A running node checks its certificate files every few
seconds (or at once on SIGHUP) and presents the renewed certificates to new
connections; sessions already up go on. The node ID is the key's, so the
channel configuration does not change. A new key is a new node: for an
orderer 'folio orderer remove' then 'folio orderer add'.

--wallet renews the identity NAME@ORG in the wallet: the certificate is
replaced, the key kept.

Without --as the identity renews itself, signing with its current
certificate, which must still be valid. With --as, that identity signs: an
admin of ORG may renew another identity, even one whose certificate expired
up to 30 days ago (after that, revoke the name and register a new one). A
revoked identity cannot be renewed.

Prints the old and new serial and expiry of each certificate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (nodeDir == "") == !inWallet {
				return usageErr("say what to renew: --node-dir DIR (a node's certificate files) or --wallet (NAME@ORG in the wallet), one of them")
			}
			if inWallet && (withTLS || len(hosts) > 0) {
				return usageErr("--tls and --host are for a node's TLS certificate (--node-dir)")
			}
			if len(hosts) > 0 && !withTLS {
				return usageErr("--host sets the renewed TLS certificate's hosts: add --tls")
			}
			t, err := g.caTarget(cmd, org)
			if err != nil {
				return err
			}
			label := name + "@" + t.org.Name
			files := nodeCertFiles(nodeDir, withTLS)
			var self *client.Identity
			var r client.Renewal
			if inWallet {
				if self, err = g.wallet(t.dir).Load(label); err != nil {
					return err
				}
				r = client.Renewal{Cert: self.Certificate(), Key: self.Key()}
			} else {
				if self, r, err = loadNodeRenewal(files, t.org.MSPID, name); err != nil {
					return err
				}
				r.TLSHosts = hosts
			}
			signer := self
			if cmd.Flags().Changed("as") || cmd.Root().PersistentFlags().Changed("as") {
				if signer, err = g.signer(t.dir, g.as); err != nil {
					return err
				}
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			e, err := t.ca.Reenroll(ctx, signer, r)
			if err != nil {
				return fmt.Errorf("renew %s (signed by %s): %w", label, signer.Label(), err)
			}
			type change struct {
				Cert        string `json:"cert"`
				File        string `json:"file"`
				OldSerial   string `json:"old_serial"`
				OldNotAfter string `json:"old_not_after"`
				Serial      string `json:"serial"`
				NotAfter    string `json:"not_after"`
			}
			var out []change
			record := func(which, file string, old, cur *x509.Certificate) {
				out = append(out, change{Cert: which, File: file, OldSerial: identity.SerialHex(old.SerialNumber), OldNotAfter: old.NotAfter.UTC().Format(time.RFC3339),
					Serial: identity.SerialHex(cur.SerialNumber), NotAfter: cur.NotAfter.UTC().Format(time.RFC3339)})
			}
			if inWallet {
				w := g.wallet(t.dir)
				if _, err := w.Renew(label, e.Cert); err != nil {
					return err
				}
				record("identity", filepath.Join(w.Dir(), label, "cert.pem"), r.Cert, e.Cert)
			} else {
				// The TLS certificate first: if the second write fails, the
				// node still has a consistent pair for each key.
				if e.TLSCert != nil {
					if err := fcrypto.WriteCertificate(files.tlsCert, e.TLSCert.Raw); err != nil {
						return err
					}
					record("tls", files.tlsCert, r.TLSCert, e.TLSCert)
				}
				if err := fcrypto.WriteCertificate(files.cert, e.Cert.Raw); err != nil {
					return err
				}
				record("identity", files.cert, r.Cert, e.Cert)
			}
			return g.emit(map[string]any{"identity": label, "renewed": out}, func(w io.Writer) {
				for _, c := range out {
					fmt.Fprintf(w, "renewed %s %s certificate %s\n  old serial %s, expires %s\n  new serial %s, expires %s\n",
						label, c.Cert, c.File, c.OldSerial, c.OldNotAfter, c.Serial, c.NotAfter)
				}
				if !inWallet {
					fmt.Fprintf(w, "a running node picks the new certificates up within %s (or at once: kill -HUP its process)\n", node.CertPollInterval)
				}
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organisation (default: the --as identity's)")
	cmd.Flags().StringVar(&name, "name", "", "enrolment name of the identity to renew (for --node-dir, the node's name)")
	cmd.Flags().StringVar(&nodeDir, "node-dir", "", "a node's directory: renew msp/cert.pem (and tls/cert.pem with --tls) in place")
	cmd.Flags().BoolVar(&inWallet, "wallet", false, "renew NAME@ORG in the wallet")
	cmd.Flags().BoolVar(&withTLS, "tls", false, "with --node-dir: also renew the node's TLS certificate (tls/cert.pem) for its TLS key")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "with --tls: DNS name or IP address of the renewed TLS certificate (repeatable; default: the current certificate's)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// nodeFiles are a node directory's certificate and key files (the layout
// folio network up and folio org init write).
type nodeFiles struct {
	cert, key, tlsCert, tlsKey string
}

func nodeCertFiles(dir string, withTLS bool) nodeFiles {
	f := nodeFiles{cert: filepath.Join(dir, "msp", "cert.pem"), key: filepath.Join(dir, "msp", "key.pem")}
	if withTLS {
		f.tlsCert, f.tlsKey = filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	}
	return f
}

// loadNodeRenewal reads a node's certificates and keys for a renewal, and
// its signing identity (which signs the request unless --as says
// otherwise). The certificate must be name's.
func loadNodeRenewal(f nodeFiles, mspID, name string) (*client.Identity, client.Renewal, error) {
	var r client.Renewal
	cert, err := fcrypto.ReadCertificate(f.cert)
	if err != nil {
		return nil, r, err
	}
	key, err := fcrypto.ReadPrivateKey(f.key)
	if err != nil {
		return nil, r, err
	}
	if cert.Subject.CommonName != name {
		return nil, r, fmt.Errorf("%s is %q's certificate, not %q's: check --node-dir and --name", f.cert, cert.Subject.CommonName, name)
	}
	self, err := client.NewIdentity(mspID, cert, key)
	if err != nil {
		return nil, r, fmt.Errorf("%s: %w", f.cert, err)
	}
	r = client.Renewal{Cert: cert, Key: key}
	if f.tlsCert != "" {
		if r.TLSCert, err = fcrypto.ReadCertificate(f.tlsCert); err != nil {
			return nil, r, err
		}
		if r.TLSKey, err = fcrypto.ReadPrivateKey(f.tlsKey); err != nil {
			return nil, r, err
		}
	}
	return self, r, nil
}

func newCARenewTLSCmd(g *globals) *cobra.Command {
	var home string
	var hosts []string
	cmd := &cobra.Command{
		Use:   "renew-tls --home DIR [--host NAME]...",
		Short: "Replace the CA's TLS certificate with a TLS-only one (no role); run on the CA's host with the CA stopped",
		Long: `Issue the CA service a new TLS certificate for a fresh key and write both
into its home directory (tls-cert.pem, tls-key.pem). The certificate has the
TLS server-auth usage only and no Folio role, so its key is no identity of the
organisation. CAs made by folio before issue 18 gave it the admin role: such a
CA refuses to start until this is run (or the network is regenerated). The
new certificate is for the old one's host names and addresses unless --host
is given. Clients trust the CA's root, so they need nothing new.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cert, err := ca.RenewTLS(home, hosts, nil)
			if err != nil {
				return err
			}
			var names []string
			names = append(names, cert.DNSNames...)
			for _, ip := range cert.IPAddresses {
				names = append(names, ip.String())
			}
			out := map[string]any{"cert": filepath.Join(home, ca.TLSCertFile), "serial": identity.SerialHex(cert.SerialNumber),
				"hosts": names, "expires": cert.NotAfter.UTC().Format(time.RFC3339)}
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "wrote a TLS-only certificate (server auth, no role) for %s to %s, serial %s, expires %s\nstart the CA again\n",
					strings.Join(names, ", "), out["cert"], out["serial"], out["expires"])
			})
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the CA's home directory (holds ca-cert.pem, ca-key.pem)")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "DNS name or IP address of the CA (repeatable; default: the current certificate's)")
	_ = cmd.MarkFlagRequired("home")
	return cmd
}
