package workload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contracts/copyright"
	"github.com/folio-ledger/folio/internal/chaos/history"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/evidence"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// attestWorkers bounds the Attest calls in flight to one peer.
const attestWorkers = 4

// Collect reads, from every peer of the network, its whole chain: each
// block's header hash, each transaction with its validation code (the
// block metadata's validation_codes, one byte per transaction, as the
// peer committed it), contract and function, and for the copyright
// contract's register and transfer the work and owner the transaction
// writes (its proposal argument decoded as the contract decodes it; a
// register without an owner writes its creator's). The state roots are
// the peer's signed attestations (EvidenceService.Attest) of each block,
// verified against the organisations' roots: a peer records the root
// after every block it committed, so every block is attestable.
//
// A peer that cannot be read completely (down, partitioned, a broken
// stream, an attestation missing or invalid) gets Error set, with what
// was read so far. Everything is bounded by ctx. Collect reads as a
// client identity of the wallet (user1 of the first peer organisation),
// not an admin. The error is about setting up only.
func Collect(ctx context.Context, netDir string) ([]history.PeerChain, error) {
	net, err := localnet.Load(netDir)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	roots, err := localnet.RootPool(netDir, net)
	if err != nil {
		return nil, fmt.Errorf("workload: roots: %w", err)
	}
	var orgs []identity.Org
	reader := ""
	for _, o := range net.Orgs {
		c, err := fcrypto.ReadCertificate(filepath.Join(netDir, o.RootCert))
		if err != nil {
			return nil, fmt.Errorf("workload: root of %s: %w", o.Name, err)
		}
		orgs = append(orgs, identity.Org{Name: o.Name, MSPID: o.MSPID, Root: c})
		if reader == "" && o.Kind == "peer" {
			reader = "user1@" + o.Name
		}
	}
	msp, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	id, err := wallet.Open(filepath.Join(netDir, "wallet")).Load(reader)
	if err != nil {
		return nil, fmt.Errorf("workload: the chains are read as %s: %w", reader, err)
	}
	hc := client.HTTPClient(id, roots)
	var peers []localnet.Node
	for _, nd := range net.Nodes {
		if nd.Role == "peer" {
			peers = append(peers, nd)
		}
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("workload: %s: %w", netDir, errNoPeers)
	}
	out := make([]history.PeerChain, len(peers))
	var wg sync.WaitGroup
	for i, nd := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = collectPeer(ctx, hc, msp, net.Channel, nd)
		}()
	}
	wg.Wait()
	return out, nil
}

// collectPeer reads one peer's chain and attestations.
func collectPeer(ctx context.Context, hc *http.Client, msp *identity.Verifier, channel string, nd localnet.Node) history.PeerChain {
	pc := history.PeerChain{Peer: nd.Name, StateRoots: map[uint64][]byte{}}
	chain := foliov1connect.NewChainServiceClient(hc, "https://"+nd.API)
	blocks, err := readBlocks(ctx, chain, &pc)
	if err != nil {
		pc.Error = err.Error()
	}
	if len(blocks) == 0 {
		return pc
	}
	if err := attestAll(ctx, foliov1connect.NewEvidenceServiceClient(hc, "https://"+nd.API), msp, channel, nd.NodeID, &pc); err != nil && pc.Error == "" {
		pc.Error = err.Error()
	}
	return pc
}

// readBlocks streams blocks 0 .. the peer's height at the start and fills
// pc with them; it returns the headers read.
func readBlocks(ctx context.Context, chain foliov1connect.ChainServiceClient, pc *history.PeerChain) ([]*foliov1.BlockHeader, error) {
	info, err := chain.GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
	if err != nil {
		return nil, fmt.Errorf("chain info: %w", err)
	}
	want := info.Msg.GetHeight()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := chain.StreamBlocks(sctx, connect.NewRequest(&foliov1.StreamBlocksRequest{Start: 0}))
	if err != nil {
		return nil, fmt.Errorf("stream blocks: %w", err)
	}
	defer stream.Close()
	var headers []*foliov1.BlockHeader
	for uint64(len(headers)) < want && stream.Receive() {
		b := stream.Msg()
		num := uint64(len(headers))
		if b.GetHeader().GetNumber() != num {
			return headers, fmt.Errorf("stream blocks: got block %d where block %d belongs", b.GetHeader().GetNumber(), num)
		}
		hash, err := types.HeaderHash(b.Header)
		if err != nil {
			return headers, fmt.Errorf("block %d: %w", num, err)
		}
		pc.BlockHashes = append(pc.BlockHashes, hash)
		pc.Txs = append(pc.Txs, blockTxs(b)...)
		pc.Height = num + 1
		headers = append(headers, b.Header)
	}
	if uint64(len(headers)) < want {
		err := stream.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return headers, fmt.Errorf("stream blocks: read %d of %d blocks: %w", len(headers), want, err)
	}
	return headers, nil
}

// blockTxs decodes the transactions of a block. An envelope that does not
// decode is still listed (with an empty TxID), so that the count of a
// block's transactions matches its validation codes.
func blockTxs(b *foliov1.Block) []history.ChainTx {
	num := b.GetHeader().GetNumber()
	codes := b.GetMetadata().GetValidationCodes()
	var out []history.ChainTx
	for i, raw := range b.GetData().GetEnvelopes() {
		tx := history.ChainTx{Block: num, Code: "MISSING"}
		if i < len(codes) {
			tx.Code = foliov1.ValidationCode(codes[i]).String()
		}
		var env foliov1.Envelope
		if proto.Unmarshal(raw, &env) == nil {
			if p, err := types.ParseEnvelope(&env); err == nil {
				tx.TxID = p.Header.TxId
				if p.Header.Type == foliov1.TxType_TX_TYPE_ENDORSER {
					if et, err := types.ParseEndorsedTransaction(p); err == nil {
						inv := et.Proposal.Invocation
						tx.Contract, tx.Function = inv.Contract, inv.Function
						decodeCopyright(&tx, inv.Args, p.Header.Creator)
					}
				}
			}
		}
		out = append(out, tx)
	}
	return out
}

// decodeCopyright fills the work and owner of a copyright register or
// transfer, decoding its one argument the way the contract does
// (contract.DecodeJSON: one JSON object, no unknown fields). An argument
// the contract would refuse leaves them empty.
func decodeCopyright(tx *history.ChainTx, args [][]byte, creator []byte) {
	if tx.Contract != Contract || len(args) != 1 {
		return
	}
	switch tx.Function {
	case copyright.FnRegister:
		tx.Kind = history.Register
		var a copyright.RegisterArgs
		if contract.DecodeJSON(args[0], &a) != nil {
			return
		}
		tx.Work, tx.Owner = a.ID, a.Owner
		if tx.Owner == "" {
			tx.Owner = creatorLabel(creator)
		}
	case copyright.FnTransfer:
		tx.Kind = history.Transfer
		var a copyright.TransferArgs
		if contract.DecodeJSON(args[0], &a) != nil {
			return
		}
		tx.Work, tx.Owner = a.ID, a.To
	}
}

// creatorLabel is the creator's name@Org as the contract sees it (the
// certificate's common name and organisation), "" when it cannot tell.
func creatorLabel(serialized []byte) string {
	_, cert, err := identity.Deserialize(serialized)
	if err != nil || len(cert.Subject.Organization) == 0 {
		return ""
	}
	return cert.Subject.CommonName + "@" + cert.Subject.Organization[0]
}

// attestAll asks the peer for its signed state root after every block of
// pc and keeps the ones that verify: signed by that peer (its node ID)
// under an organisation's root, for this channel and block, naming the
// block hash read from the same peer. The first failure is returned.
func attestAll(ctx context.Context, ev foliov1connect.EvidenceServiceClient, msp *identity.Verifier, channel, nodeID string, pc *history.PeerChain) error {
	var (
		mu       sync.Mutex
		firstErr error
		next     uint64
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	take := func() (uint64, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= pc.Height || ctx.Err() != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	for range attestWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for num, ok := take(); ok; num, ok = take() {
				resp, err := ev.Attest(ctx, connect.NewRequest(&foliov1.AttestRequest{BlockNumber: num}))
				if err != nil {
					fail(fmt.Errorf("attest block %d: %w", num, err))
					continue
				}
				_, st, err := evidence.VerifyAttestation(msp, channel, nodeID, resp.Msg)
				switch {
				case err != nil:
					err = fmt.Errorf("attestation of block %d: %w", num, err)
				case st.BlockNumber != num:
					err = fmt.Errorf("asked to attest block %d, it attested block %d", num, st.BlockNumber)
				case !bytes.Equal(st.BlockHash, pc.BlockHashes[num]):
					err = fmt.Errorf("attestation of block %d names block hash %x, its chain has %x", num, st.BlockHash, pc.BlockHashes[num])
				}
				if err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				pc.StateRoots[num] = st.StateRoot
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil && uint64(len(pc.StateRoots)) < pc.Height {
		firstErr = fmt.Errorf("attested %d of %d blocks: %w", len(pc.StateRoots), pc.Height, ctx.Err())
	}
	return firstErr
}
