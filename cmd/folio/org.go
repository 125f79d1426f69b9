package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/consortium"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/localnet/genesiscontracts"
)

// newOrgCmd is `folio org`: one organisation of a consortium on its own
// host (docs/deploy.md).
func newOrgCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "org", Short: "One organisation on its own host: init, export its public definition, join a channel"}
	cmd.AddCommand(newOrgInitCmd(g), newOrgExportCmd(g), newOrgJoinCmd(g))
	return cmd
}

func newOrgInitCmd(g *globals) *cobra.Command {
	var o consortium.InitOptions
	var dir string
	cmd := &cobra.Command{
		Use:   "init --name ORG --dir DIR [--peers 1] [--orderers 0] [--host ADDR] [--msp-id ID] [--netns NS]",
		Short: "Create one organisation (CA, admin, user1, node configs) in DIR, holding only its own keys",
		Long: `Creates one organisation of a consortium in DIR (which must not exist or be
empty): its CA (root key in DIR/orgs/ORG/ca), a wallet with admin (and user1
when it runs peers), each node's signing and TLS key pairs and config.yaml,
the copyright and release contracts installed on each peer, an enclave state
key, and network.json, so that 'folio --network DIR --as user1@ORG ...' and
'folio network start NODE' work on this host. No other organisation's key is
ever needed or written.

Nodes listen on and advertise --host (an address the other organisations
reach; default 127.0.0.1, for a trial on one machine) on fixed ports: the CA
on 7054 (operations 9444); the i-th node (peers, or orderers, from 0) on
7051+100i (API), 7052+100i (P2P) and 9443+100i (operations). Node names carry
the organisation's name (peer0.org3, orderer0.ordererorg), so they are unique
in the consortium. An organisation runs peers or orderers, not both.

The node configs name DIR/genesis.block, which arrives later ('folio channel
genesis' or 'folio org join'), and list only this organisation: the nodes
learn the others from the channel's configuration. Next: 'folio org export'.

--netns NS records that the CA and nodes run inside the network namespace NS
('ip netns exec NS folio ...', when 'folio org join' or 'folio network
start' starts them): several "hosts" on one machine, each a namespace with
its own --host address, as the multi-host e2e test builds them. Real hosts
leave it out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Name == "" || dir == "" {
				return usageErr("--name and --dir are required, e.g. folio org init --name Org3 --dir ./org3")
			}
			if cmd.Flags().Changed("orderers") && !cmd.Flags().Changed("peers") && o.Orderers > 0 {
				o.Peers = 0 // an ordering organisation
			}
			var err error
			if o.CopyrightWasm, err = genesiscontracts.Copyright.Wasm(); err != nil {
				return err
			}
			if o.ReleaseWasm, err = genesiscontracts.Release.Wasm(); err != nil {
				return err
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if err := o.Check(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			n, err := consortium.Init(abs, o)
			if errors.Is(err, consortium.ErrDirNotEmpty) {
				return &exitError{code: exitUsage, err: err}
			}
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"org": n.Orgs[0], "dir": abs, "nodes": n.Nodes}, func(w io.Writer) {
				fmt.Fprintf(w, "organisation %s (%s) created in %s\n", n.Orgs[0].Name, n.Orgs[0].MSPID, abs)
				for _, nd := range n.Nodes {
					fmt.Fprintf(w, "  %-22s %-8s api %s\n", nd.Name, nd.Role, nd.API)
				}
				fmt.Fprintf(w, "next: folio org export --dir %s --out %s.json, and send that file to the consortium\n", abs, strings.ToLower(n.Orgs[0].Name))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "organisation name, e.g. Org3 (letters, digits, '-')")
	f.StringVar(&o.MSPID, "msp-id", "", "MSP ID (default: NAME followed by MSP)")
	f.StringVar(&dir, "dir", "", "directory to create (must not exist or be empty)")
	f.IntVar(&o.Peers, "peers", 1, "number of peers, 0 to 16 (0 when only --orderers is given)")
	f.IntVar(&o.Orderers, "orderers", 0, "number of orderers, 0 to 9 (an ordering organisation runs no peers)")
	f.StringVar(&o.Host, "host", "127.0.0.1", "address the nodes listen on and advertise to the other organisations (IP or DNS name of this host)")
	f.StringVar(&o.Netns, "netns", "", "run the CA and nodes in this Linux network namespace, whose address --host is (a host simulated on one machine, for tests; needs root and iproute2)")
	return cmd
}

func newOrgExportCmd(g *globals) *cobra.Command {
	var dir, out string
	cmd := &cobra.Command{
		Use:   "export --dir DIR --out FILE",
		Short: "Write the organisation's public definition (MSP ID, root certificate, node identities and addresses)",
		Long: `Writes the public definition of the organisation in DIR (made by 'folio org
init') as indented JSON: its name, MSP ID and root certificate, and each
node's name, node ID, advertised addresses and signing certificate (orderers
with the Raft ID their key derives). It holds nothing secret: send it to the
consortium, whose admins check it by eye ('folio channel add-org' prints what
it changes) and compare the root certificate's fingerprint with you out of
band.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || out == "" {
				return usageErr("--dir and --out are required")
			}
			def, err := consortium.Export(dir)
			if err != nil {
				return err
			}
			data, err := consortium.MarshalDefinition(def)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			fp := rootFingerprint(def.Org.RootCerts[0])
			for _, n := range append(append([]*foliov1.NodeEndpoint(nil), def.Peers...), def.Orderers...) {
				if localnet.IsLoopbackAddr(n.ApiAddress) {
					fmt.Fprintf(g.stderr, "warning: %s advertises %s, a loopback address: other hosts cannot reach it (org init --host)\n", n.Name, n.ApiAddress)
					break
				}
			}
			return g.emit(map[string]any{"definition": out, "org": def.Org.Name, "msp_id": def.Org.MspId, "root_sha256": fp}, func(w io.Writer) {
				fmt.Fprintf(w, "definition of %s (%s) written to %s\nroot certificate SHA-256 %s (tell the consortium out of band)\n", def.Org.Name, def.Org.MspId, out, fp)
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the organisation's directory (made by 'folio org init')")
	cmd.Flags().StringVar(&out, "out", "", "definition file to write")
	return cmd
}

// rootFingerprint is the hex SHA-256 of a PEM certificate's DER bytes.
func rootFingerprint(pem []byte) string {
	c, err := fcrypto.ParseCertificatePEM(pem)
	if err != nil {
		return "unparseable"
	}
	return fmt.Sprintf("%x", sha256.Sum256(c.Raw))
}

func newOrgJoinCmd(g *globals) *cobra.Command {
	var dir, from, genesisFile, wantHash string
	var noStart bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "join --dir DIR (--channel-from PEER_API_ADDR | --genesis FILE) [--genesis-hash HEX] [--no-start]",
		Short: "Point the organisation's nodes at the channel and start them",
		Long: `Prepares the organisation in DIR to run in the channel and starts its nodes.

With --channel-from HOST:PORT it asks that peer (of a member organisation
listed in the genesis block) for block 0 and the configuration in force; with
--genesis FILE it takes block 0 from the file (the organisations that form
the channel: 'folio channel genesis' wrote it) and, unless --channel-from is
also given, its configuration. Block 0 is refused when its hash differs from
--genesis-hash (printed by 'folio channel genesis'; compare it out of band);
without --genesis-hash join warns that it trusts whatever the peer sent.
The peer's TLS certificate must chain to a root of the genesis block.

Join is refused while this organisation (its root certificate, each node's
key) is not in the configuration in force: the consortium adds it first with
'folio channel add-org'. Then it writes DIR/genesis.block, lists the channel's
other nodes as bootstrap endpoints in each node's config.yaml, and starts the
CA and every node (as 'folio network start' does) unless --no-start, waiting
until each is ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case dir == "":
				return usageErr("--dir is required")
			case from == "" && genesisFile == "":
				return usageErr("give --channel-from PEER_API_ADDR (a member's peer) or --genesis FILE")
			case wantHash != "" && len(wantHash) != 64:
				return usageErr("--genesis-hash %q: want the 64 hex digits 'folio channel genesis' printed", wantHash)
			}
			if err := checkRanges(nil, []durFlag{timeoutFlag(timeout)}); err != nil {
				return err
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			n, err := localnet.Load(abs)
			if err != nil {
				return err
			}
			if len(n.Orgs) != 1 {
				return usageErr("--dir %s holds %d organisations: join works on a directory made by 'folio org init'", dir, len(n.Orgs))
			}
			admin, err := wallet.Open(filepath.Join(abs, "wallet")).Load("admin@" + n.Orgs[0].Name)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var genesis *foliov1.Block
			if genesisFile != "" {
				raw, err := os.ReadFile(genesisFile)
				if err != nil {
					return usageErr("--genesis: %v", err)
				}
				genesis = &foliov1.Block{}
				if err := proto.Unmarshal(raw, genesis); err != nil {
					return fmt.Errorf("--genesis %s is not a block: %w", genesisFile, err)
				}
			} else if genesis, err = fetchGenesis(ctx, admin, from); err != nil {
				return err
			}
			hash, err := consortium.GenesisHash(genesis)
			if err != nil {
				return err
			}
			if wantHash == "" {
				fmt.Fprintf(g.stderr, "WARNING: no --genesis-hash given: trusting the genesis block %s as received (hash %s).\n"+
					"WARNING: compare that hash with the one 'folio channel genesis' printed, out of band, before you rely on this channel.\n", describeSource(from, genesisFile), hash)
			} else if !strings.EqualFold(wantHash, hash) {
				return &exitError{code: exitInvalid, err: fmt.Errorf("the genesis block from %s has hash %s, not the --genesis-hash %s: refusing it (wrong channel, or someone altered it)", describeSource(from, genesisFile), hash, wantHash)}
			}
			gcfg, err := channel.FromGenesis(genesis)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			current := gcfg
			if from != "" {
				roots := x509.NewCertPool()
				for _, o := range gcfg.Orgs {
					if c, err := fcrypto.ParseCertificatePEM(o.RootCerts[0]); err == nil {
						roots.AddCert(c)
					}
				}
				info, err := client.ChannelConfig(ctx, client.HTTPClient(admin, roots), "https://"+from)
				if err != nil {
					return fmt.Errorf("%w (if %s refuses this organisation's identity, it is not a member yet: ask the consortium to run `folio channel add-org`)", err, from)
				}
				if info.Config.ChannelId != gcfg.ChannelId {
					return &exitError{code: exitInvalid, err: fmt.Errorf("%s answers for channel %s, its genesis block is of channel %s", from, info.Config.ChannelId, gcfg.ChannelId)}
				}
				current = info.Config
			}
			if _, err := consortium.CheckMember(abs, current); err != nil {
				return &exitError{code: exitRefused, err: err}
			}
			if err := consortium.Bootstrap(abs, genesis, current); err != nil {
				return err
			}
			fmt.Fprintf(g.progress(), "joined channel %s (config sequence %d, genesis %s); bootstrap endpoints written\n", current.ChannelId, current.Sequence, hash)
			var started []localnet.NodeResult
			if !noStart {
				if started, err = startAll(cmd.Context(), abs, n, timeout, g.progress()); err != nil {
					return err
				}
			}
			return g.emit(map[string]any{"channel": current.ChannelId, "config_sequence": current.Sequence, "genesis_hash": hash, "started": started}, func(w io.Writer) {
				fmt.Fprintf(w, "%s is in channel %s; %d nodes started\n", n.Orgs[0].Name, current.ChannelId, len(started))
				if noStart {
					fmt.Fprintf(w, "start the nodes with: folio --network %s network start NODE (or their systemd units)\n", abs)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "the organisation's directory (made by 'folio org init')")
	f.StringVar(&from, "channel-from", "", "API address (host:port) of a member's peer to fetch block 0 and the configuration in force from")
	f.StringVar(&genesisFile, "genesis", "", "block 0 as a file (from 'folio channel genesis'), instead of fetching it")
	f.StringVar(&wantHash, "genesis-hash", "", "the genesis block's hash, as 'folio channel genesis' printed it: a different block is refused")
	f.BoolVar(&noStart, "no-start", false, "only write the genesis block and bootstrap endpoints; do not start the nodes")
	f.DurationVar(&timeout, "timeout", localnet.DefaultReadyTimeout, "how long to wait for each node to be ready, 1s to 1h")
	return cmd
}

func describeSource(from, file string) string {
	if file != "" {
		return "in " + file
	}
	return "from " + from
}

// fetchGenesis asks the peer at addr for block 0 without checking its TLS
// certificate: no root is known yet. What it returns is trusted only
// through --genesis-hash (or the user's acceptance of the warning); every
// later call checks the peer against the genesis block's roots.
func fetchGenesis(ctx context.Context, id *client.Identity, addr string) (*foliov1.Block, error) {
	conf := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, //nolint:gosec // checked by hash, see above
		Certificates: []tls.Certificate{{Certificate: [][]byte{id.Certificate().Raw}, PrivateKey: id.Key(), Leaf: id.Certificate()}}}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second}}
	defer hc.CloseIdleConnections()
	res, err := foliov1connect.NewChainServiceClient(hc, "https://"+addr).GetBlock(ctx,
		connect.NewRequest(&foliov1.GetBlockRequest{Selector: &foliov1.GetBlockRequest_Number{Number: 0}}))
	if err != nil {
		return nil, fmt.Errorf("block 0 from %s: %w (a peer may refuse identities of organisations that are not members yet: ask the consortium to run `folio channel add-org`, or use --genesis FILE)", addr, err)
	}
	return res.Msg, nil
}

// startAll starts the CA and every node of an organisation's directory at
// once (orderers cannot be ready one at a time: each needs a majority) and
// waits until each is ready.
func startAll(ctx context.Context, dir string, n *localnet.Network, timeout time.Duration, progress io.Writer) ([]localnet.NodeResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		res  []localnet.NodeResult
		errs []error
	)
	start := func(nd localnet.Node) {
		defer wg.Done()
		r, err := localnet.StartNode(ctx, localnet.NodeOptions{Dir: dir, Name: nd.Name, Exe: exe, Timeout: timeout, Progress: progress})
		mu.Lock()
		defer mu.Unlock()
		res = append(res, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", nd.Name, err))
		}
	}
	// The CA first: the nodes poll it for revocation lists.
	for _, nd := range n.Nodes {
		if nd.Role == config.RoleCA {
			wg.Add(1)
			start(nd)
		}
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	for _, nd := range n.Nodes {
		if nd.Role != config.RoleCA {
			wg.Add(1)
			go start(nd)
		}
	}
	wg.Wait()
	return res, errors.Join(errs...)
}
