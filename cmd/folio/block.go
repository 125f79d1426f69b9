package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// chainTarget is the node whose chain a command reads: --orderer if given,
// else the peer chosen by --peer / --as.
type chainTarget struct {
	name  string
	chain foliov1connect.ChainServiceClient
}

func (g *globals) chainTarget(orderer string) (*chainTarget, error) {
	dir, n, err := g.loadNetwork()
	if err != nil {
		return nil, err
	}
	var nd *localnet.Node
	if orderer != "" {
		if nd, err = n.Node(orderer); err != nil {
			return nil, err
		}
	} else if nd, err = g.resolvePeer(n); err != nil {
		return nil, err
	}
	hc, err := g.nodeHTTP(dir, n)
	if err != nil {
		return nil, err
	}
	return &chainTarget{name: nd.Name, chain: foliov1connect.NewChainServiceClient(hc, "https://"+nd.API)}, nil
}

// nodeHTTP is an HTTP client that talks to nodes as the --as identity.
func (g *globals) nodeHTTP(dir string, n *localnet.Network) (*http.Client, error) {
	id, err := g.signer(dir, "")
	if err != nil {
		return nil, err
	}
	roots, err := localnet.RootPool(dir, n)
	if err != nil {
		return nil, err
	}
	return client.HTTPClient(id, roots), nil
}

// blockView is a block as `folio block` prints it.
type blockView struct {
	Number       uint64          `json:"number"`
	Hash         string          `json:"hash"`
	PreviousHash string          `json:"previous_hash"`
	DataHash     string          `json:"data_hash"`
	Timestamp    string          `json:"timestamp"`
	StateRoot    string          `json:"state_root,omitempty"`
	Transactions []txView        `json:"transactions"`
	Signatures   []string        `json:"signed_by"`
	Config       json.RawMessage `json:"config,omitempty"`
}

type txView struct {
	TxID     string `json:"tx_id"`
	Type     string `json:"type"`
	Creator  string `json:"creator"`
	Channel  string `json:"channel"`
	Contract string `json:"contract,omitempty"`
	// Version is the contract version that endorsed the transaction.
	Version  string `json:"contract_version,omitempty"`
	Function string `json:"function,omitempty"`
	// Lifecycle summarises a lifecycle transaction.
	Lifecycle string `json:"lifecycle,omitempty"`
	Code      string `json:"validation_code,omitempty"`
	Time      string `json:"timestamp"`
}

func viewBlock(b *foliov1.Block) blockView {
	hash, _ := types.HeaderHash(b.Header)
	v := blockView{Number: b.Header.Number, Hash: hex.EncodeToString(hash), PreviousHash: hex.EncodeToString(b.Header.PreviousHash),
		DataHash: hex.EncodeToString(b.Header.DataHash), Timestamp: time.Unix(0, b.Header.TimestampUnixNano).UTC().Format(time.RFC3339Nano),
		Transactions: []txView{}, Signatures: []string{}}
	if r := b.GetMetadata().GetStateRoot(); len(r) > 0 {
		v.StateRoot = hex.EncodeToString(r)
	}
	for _, s := range b.GetMetadata().GetSignatures() {
		v.Signatures = append(v.Signatures, who(s.Signer))
	}
	codes := b.GetMetadata().GetValidationCodes()
	for i, raw := range b.GetData().GetEnvelopes() {
		t := txView{Type: "undecodable"}
		var env foliov1.Envelope
		if proto.Unmarshal(raw, &env) == nil {
			if p, err := types.ParseEnvelope(&env); err == nil {
				h := p.Header
				t = txView{TxID: h.TxId, Creator: who(h.Creator), Channel: h.ChannelId, Time: time.Unix(0, h.TimestampUnixNano).UTC().Format(time.RFC3339Nano)}
				switch h.Type {
				case foliov1.TxType_TX_TYPE_CONFIG:
					t.Type = "config"
					var cfg foliov1.ChannelConfig
					if proto.Unmarshal(p.Data, &cfg) == nil {
						v.Config = configJSON(&cfg)
					}
				case foliov1.TxType_TX_TYPE_ENDORSER:
					t.Type = "endorser"
					if et, err := types.ParseEndorsedTransaction(p); err == nil {
						t.Contract, t.Function = et.Proposal.Invocation.Contract, et.Proposal.Invocation.Function
						t.Version = et.Response.GetAction().GetContract().GetVersion()
					}
				case foliov1.TxType_TX_TYPE_LIFECYCLE:
					t.Type = "lifecycle"
					t.Lifecycle = lifecycleSummary(p.Data)
				}
			}
		}
		if i < len(codes) {
			t.Code = foliov1.ValidationCode(codes[i]).String()
		}
		v.Transactions = append(v.Transactions, t)
	}
	return v
}

// lifecycleSummary says what a lifecycle transaction asks, in one line.
func lifecycleSummary(data []byte) string {
	var lt foliov1.LifecycleTx
	var req foliov1.LifecycleRequest
	if proto.Unmarshal(data, &lt) != nil || proto.Unmarshal(lt.Request, &req) != nil {
		return "undecodable"
	}
	if in := req.GetInstall(); in != nil {
		return fmt.Sprintf("install record: %s has %s version %s (sha256:%x)", in.Peer, in.Contract, in.Version, in.PackageHash)
	}
	if a := req.GetActivate(); a != nil {
		start := fmt.Sprintf("%d blocks after this one", max(a.AfterBlocks, 1))
		if a.AtBlock > 0 {
			start = fmt.Sprintf("block %d", a.AtBlock)
		}
		return fmt.Sprintf("activate %s version %s (sha256:%x) from %s, %d approvals", a.Contract, a.Version, a.PackageHash, start, len(lt.Approvals))
	}
	return "empty"
}

// configJSON summarises a channel configuration without the certificates.
func configJSON(c *foliov1.ChannelConfig) json.RawMessage {
	type org struct {
		Name  string `json:"name"`
		MSPID string `json:"msp_id"`
		Kind  string `json:"kind"`
	}
	type node struct {
		Name   string `json:"name"`
		Org    string `json:"org"`
		NodeID string `json:"node_id"`
		API    string `json:"api"`
		P2P    string `json:"p2p"`
	}
	out := struct {
		Channel  string            `json:"channel"`
		Orgs     []org             `json:"orgs"`
		Orderers []node            `json:"orderers"`
		Peers    []node            `json:"peers"`
		Batch    map[string]uint32 `json:"block_cutting"`
		Policies map[string]string `json:"policies"`
	}{Channel: c.ChannelId, Policies: c.Policies,
		Batch: map[string]uint32{"max_tx_count": c.GetBatch().GetMaxTxCount(), "max_bytes": c.GetBatch().GetMaxBytes(), "timeout_ms": c.GetBatch().GetTimeoutMs()}}
	for _, o := range c.Orgs {
		out.Orgs = append(out.Orgs, org{o.Name, o.MspId, o.Kind.String()})
	}
	for _, n := range c.Orderers {
		out.Orderers = append(out.Orderers, node{n.Name, n.Org, n.NodeId, n.ApiAddress, n.P2PAddress})
	}
	for _, n := range c.Peers {
		out.Peers = append(out.Peers, node{n.Name, n.Org, n.NodeId, n.ApiAddress, n.P2PAddress})
	}
	b, _ := json.Marshal(out)
	return b
}

// who names a serialized identity as name@Org (MSP), without validating it.
func who(serialized []byte) string {
	mspID, cert, err := identity.Deserialize(serialized)
	if err != nil {
		return "?"
	}
	org := ""
	if len(cert.Subject.Organization) > 0 {
		org = cert.Subject.Organization[0]
	}
	return fmt.Sprintf("%s@%s (%s)", cert.Subject.CommonName, org, mspID)
}

func printBlock(w io.Writer, v blockView) {
	fmt.Fprintf(w, "block %d  %s\n  previous %s\n  data     %s\n  time     %s\n", v.Number, v.Hash, v.PreviousHash, v.DataHash, v.Timestamp)
	if v.StateRoot != "" {
		fmt.Fprintf(w, "  state    %s\n", v.StateRoot)
	}
	for _, s := range v.Signatures {
		fmt.Fprintf(w, "  signed by %s\n", s)
	}
	for i, t := range v.Transactions {
		fmt.Fprintf(w, "  tx %d  %s  %s  by %s", i, t.TxID, t.Type, t.Creator)
		if t.Contract != "" {
			fmt.Fprintf(w, "  %s.%s (v%s)", t.Contract, t.Function, t.Version)
		}
		if t.Code != "" {
			fmt.Fprintf(w, "  %s", t.Code)
		}
		fmt.Fprintln(w)
		if t.Lifecycle != "" {
			fmt.Fprintf(w, "        %s\n", t.Lifecycle)
		}
	}
	if len(v.Config) > 0 {
		fmt.Fprintf(w, "  channel configuration: %s\n", v.Config)
	}
}

func newBlockCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "block", Short: "Read blocks from a peer or an orderer"}
	var orderer string
	cmd.PersistentFlags().StringVar(&orderer, "orderer", "", "read from this orderer instead of a peer")

	get := &cobra.Command{
		Use:   "get N",
		Short: "Print block N (0 is the genesis block; N below the chain's height)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			num, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usageErr("block number %q: want an integer from 0 to the chain's height - 1", args[0])
			}
			t, err := g.chainTarget(orderer)
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			resp, err := t.chain.GetBlock(ctx, connect.NewRequest(&foliov1.GetBlockRequest{Selector: &foliov1.GetBlockRequest_Number{Number: num}}))
			if err != nil {
				return fmt.Errorf("block %d from %s: %w", num, t.name, err)
			}
			v := viewBlock(resp.Msg)
			return g.emit(v, func(w io.Writer) { printBlock(w, v) })
		},
	}

	var count uint64
	var follow bool
	tail := &cobra.Command{
		Use:   "tail [--count N] [--follow]",
		Short: "Print the last blocks; with --follow keep printing new ones (--json: one JSON document per line)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.chainTarget(orderer)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			info, err := t.chain.GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
			if err != nil {
				return fmt.Errorf("chain of %s: %w", t.name, err)
			}
			start := uint64(0)
			if info.Msg.Height > count {
				start = info.Msg.Height - count
			}
			stream, err := t.chain.StreamBlocks(ctx, connect.NewRequest(&foliov1.StreamBlocksRequest{Start: start, Follow: follow}))
			if err != nil {
				return err
			}
			defer stream.Close()
			enc := json.NewEncoder(g.stdout)
			for stream.Receive() {
				v := viewBlock(stream.Msg())
				if g.json {
					if err := enc.Encode(v); err != nil {
						return err
					}
				} else {
					printBlock(g.stdout, v)
				}
			}
			if err := stream.Err(); err != nil && !errors.Is(ctx.Err(), context.Canceled) {
				return fmt.Errorf("block stream from %s: %w", t.name, err)
			}
			return nil
		},
	}
	tail.Flags().Uint64Var(&count, "count", 10, "how many of the last blocks to print first: 0 or more (0 with --follow: only new blocks; more than the height: every block)")
	tail.Flags().BoolVar(&follow, "follow", false, "keep printing new blocks until Ctrl-C")
	cmd.AddCommand(get, tail)
	return cmd
}

func newTxCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tx", Short: "Read transactions"}
	var orderer string
	cmd.PersistentFlags().StringVar(&orderer, "orderer", "", "read from this orderer instead of a peer")
	cmd.AddCommand(&cobra.Command{
		Use:   "get TXID",
		Short: "Print a transaction: its block, position, validation code, creator and call",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := g.chainTarget(orderer)
			if err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			resp, err := t.chain.GetTransaction(ctx, connect.NewRequest(&foliov1.GetTransactionRequest{TxId: args[0]}))
			if err != nil {
				return fmt.Errorf("transaction %s on %s: %w", args[0], t.name, err)
			}
			pt := resp.Msg
			raw, _ := proto.Marshal(pt.Envelope)
			blk := viewBlock(&foliov1.Block{Header: &foliov1.BlockHeader{}, Data: &foliov1.BlockData{Envelopes: [][]byte{raw}},
				Metadata: &foliov1.BlockMetadata{ValidationCodes: []byte{byte(pt.ValidationCode)}}})
			out := struct {
				txView
				Block uint64 `json:"block"`
				Index uint32 `json:"index"`
			}{blk.Transactions[0], pt.BlockNumber, pt.TxIndex}
			out.Code = pt.ValidationCode.String()
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s  block %d index %d  %s\n  %s by %s at %s", out.TxID, out.Block, out.Index, out.Code, out.Type, out.Creator, out.Time)
				if out.Contract != "" {
					fmt.Fprintf(w, "  %s.%s", out.Contract, out.Function)
				}
				fmt.Fprintln(w)
			})
		},
	})
	return cmd
}
