package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
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
	cmd.AddCommand(newCAServeCmd(), newCARegisterCmd(g), newCAEnrollCmd(g), newCARevokeCmd(g), newCAListCmd(g), newCAVerifyCmd(g))
	return cmd
}

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

func (g *globals) caAdmin(cmd *cobra.Command, t *caTarget) (*identity.SigningIdentity, error) {
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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.caTarget(cmd, org)
			if err != nil {
				return err
			}
			admin, err := g.caAdmin(cmd, t)
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			secret, err := t.ca.Register(ctx, admin, name, identity.Role(role))
			if err != nil {
				return fmt.Errorf("register %s@%s: %w", name, t.org.Name, err)
			}
			out := map[string]string{"name": name, "org": t.org.Name, "role": role, "secret": secret}
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "registered %s@%s as %s\none-time enrolment secret: %s\nenroll with: folio ca enroll --org %s --name %s --secret %s\n",
					name, t.org.Name, role, secret, t.org.Name, name, secret)
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
	cmd := &cobra.Command{
		Use:   "revoke --org ORG --name NAME [--reason TEXT]",
		Short: "Revoke every certificate of an identity (signed by an admin); every node refuses it from then on",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.caTarget(cmd, org)
			if err != nil {
				return err
			}
			admin, err := g.caAdmin(cmd, t)
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
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "revoked %s@%s (certificate serials %v); nodes refuse it once they fetch the new CRL\n", name, t.org.Name, res.Serials)
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organisation (default: the --as identity's)")
	cmd.Flags().StringVar(&name, "name", "", "enrolment name to revoke")
	cmd.Flags().StringVar(&reason, "reason", "", "why, kept in the CA's registry")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newCAListCmd(g *globals) *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List the organisation's registered identities (signed by an admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.caTarget(cmd, org)
			if err != nil {
				return err
			}
			admin, err := g.caAdmin(cmd, t)
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
				got, err := v.Validate(t.org.MSPID, id.Cert)
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
					fmt.Fprintf(w, "%s is valid (%s of %s, not expired, not revoked)\n", label, id.Role, t.org.MSPID)
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
