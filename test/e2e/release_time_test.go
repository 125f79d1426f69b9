package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/types"
)

var (
	timeWasmOnce sync.Once
	timeWasm     string
	timeWasmErr  error
)

// releaseWasmFile builds the release contract from this tree once per test
// binary, so the test runs the contract (and SDK) being tested.
func releaseWasmFile(t *testing.T) string {
	t.Helper()
	timeWasmOnce.Do(func() {
		timeWasm = filepath.Join(filepath.Dir(contractWasm), "release-time.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", timeWasm, "github.com/folio-ledger/folio/contracts/release/cmd/release")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			timeWasmErr = fmt.Errorf("build the release contract: %v\n%s", err, b)
		}
	})
	if timeWasmErr != nil {
		t.Fatal(timeWasmErr)
	}
	return timeWasm
}

// p256Sign is a Folio P-256 signature: SHA-256(domain || 0x00 || msg), DER.
func p256Sign(t *testing.T, k *ecdsa.PrivateKey, domain string, msg []byte) string {
	t.Helper()
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, k, h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(sig)
}

// TestPublishShareBeforeReleaseTime is the attack of issue 18 on a real
// network: a key server's operator publishes its share about two and a half
// minutes before the release time T with a proposal stamped T. Endorsers
// accept proposal timestamps up to 5 minutes from their clocks, and
// publish_share checked only that stamp, so the share used to commit as
// VALID, on the ledger before T. Now the contract asserts
// CommitNotBefore(T) and validation compares it with the block timestamp:
// the transaction is endorsed as before but commits TOO_EARLY, and the
// ledger holds no share.
//
// The release names a key server of the test's making (its node and
// key-agreement keys generated here): the contract cannot tell it from a
// peer, and no peer of the network acts on it.
func TestPublishShareBeforeReleaseTime(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network")
	}
	n := newNetwork(t, "FOLIO_LOG_LEVEL=info")
	n.must("network", "up", "--detach", "--orgs", "2", "--orderers", "1", "--contract", contractWasm, "--release-contract", releaseWasmFile(t))
	s := newSDK(t, n)
	owner := s.identity("user1@Org1")
	var peer string
	for _, nd := range s.net.Nodes {
		if nd.Role == config.RolePeer {
			peer = nd.Name
			break
		}
	}
	gw := s.gateway(peer, owner)
	// The first call of a contract on a peer compiles its module.
	eventually(t, 3*time.Minute, "the release contract answers", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := gw.Evaluate(ctx, "release", release.FnList)
		return err
	})

	// A release whose time T is 2m30s ahead, with one key server.
	work := fmt.Sprintf("EARLY-%d", time.Now().UnixNano())
	rid := release.ReleaseID(work, owner.Label())
	T := time.Now().Add(150 * time.Second).UTC()
	nodeKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kexKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nodePub, _ := nodeKey.PublicKey.Bytes()
	kexPub, _ := kexKey.PublicKey.Bytes()
	spki := sha256.Sum256(nodePub)
	nodeID := hex.EncodeToString(spki[:])
	contentKey := make([]byte, release.KeySize)
	rand.Read(contentKey)
	share := append([]byte{1}, contentKey...) // with t = 1 the share is the key
	rec := release.Record{Work: work, Owner: owner.Label(), ContentHash: "sha256:" + strings.Repeat("ab", 32),
		Size: 10000, ChunkSize: 4096, Chunks: 3, CipherSize: 10000 + 3*release.TagSize, ChunkRoot: strings.Repeat("cd", 32),
		ReleaseAt: T.Format(time.RFC3339Nano), EndAt: T.Add(time.Hour).Format(time.RFC3339Nano), Threshold: 1,
		Origin: "ks-origin", KeyCommit: hex.EncodeToString(release.KeyCommitment(rid, contentKey)),
		KeyServers: []release.KeyServer{{Index: 1, Name: "ks1", Org: "Org1", NodeID: nodeID,
			NodeKey: hex.EncodeToString(nodePub), KexPub: hex.EncodeToString(kexPub),
			KexSig:      p256Sign(t, nodeKey, release.DomainKex, release.KexStatement(nodeID, kexPub)),
			ShareCommit: hex.EncodeToString(release.ShareCommitment(rid, 1, share)), EncShare: strings.Repeat("00", release.EncShareBytes)}}}
	raw, _ := json.Marshal(rec)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := gw.Submit(ctx, "release", release.FnCreate, [][]byte{raw}, client.SubmitOptions{}); err != nil {
		t.Fatalf("create the release: %v", err)
	}

	// The key server's statement that it sent the share at T, proposed
	// with the timestamp T: the proposal's time is the creator's word.
	pa := release.PublishArgs{Work: work, Owner: owner.Label(), Index: 1, Share: hex.EncodeToString(share),
		SentAt: T.Format(time.RFC3339Nano), NodeID: nodeID,
		Sig: p256Sign(t, nodeKey, release.DomainShare, release.ShareStatement(rid, 1, share, T, nodeID))}
	arg, _ := json.Marshal(pa)
	si := s.signing("user1@Org1")
	sp, h, err := types.NewProposal(si, s.net.Channel, "release", release.FnPublishShare, [][]byte{arg})
	if err != nil {
		t.Fatal(err)
	}
	h.TimestampUnixNano = T.UnixNano()
	pb, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.Proposal{Header: h,
		Invocation: &foliov1.ContractInvocation{Contract: "release", Function: release.FnPublishShare, Args: [][]byte{arg}}})
	if err != nil {
		t.Fatal(err)
	}
	psig, err := si.Sign(types.DomainProposal, pb)
	if err != nil {
		t.Fatal(err)
	}
	sp = &foliov1.SignedProposal{ProposalBytes: pb, Signature: psig}
	rpc := foliov1connect.NewGatewayServiceClient(client.HTTPClient(owner, s.roots), "https://"+s.node(peer).API)
	end, err := rpc.Endorse(ctx, connect.NewRequest(&foliov1.EndorseRequest{Proposal: sp}))
	if err != nil {
		t.Fatalf("endorsement of the early publication (the contract's proposal-time check passes): %v", err)
	}
	var prepared foliov1.ProposalResponsePayload
	var payload foliov1.Payload
	var tx foliov1.Transaction
	if err := errors.Join(proto.Unmarshal(end.Msg.PreparedPayload, &payload), proto.Unmarshal(payload.GetData(), &tx),
		proto.Unmarshal(tx.GetResponsePayload(), &prepared)); err != nil {
		t.Fatal(err)
	}
	if got := prepared.GetAction().GetRwset().GetNotBeforeUnixNano(); got != T.UnixNano() {
		t.Fatalf("the endorsed read/write set asserts not before %d, want T = %d", got, T.UnixNano())
	}
	esig, err := si.Sign(types.DomainEnvelope, end.Msg.PreparedPayload)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gw.SubmitEnvelope(ctx, &foliov1.Envelope{Payload: end.Msg.PreparedPayload, Signature: esig}, h.TxId)
	var inv *client.InvalidError
	if !errors.As(err, &inv) || res.Code != foliov1.ValidationCode_TOO_EARLY {
		t.Fatalf("the share published before T committed: %+v %v (want TOO_EARLY)", res, err)
	}
	if time.Now().After(T) {
		t.Fatalf("the test ran past T (%s): its early block proves nothing", T)
	}
	t.Logf("early publication: %s in block %d: %s", res.Code, res.Block, res.Reason)

	out, err := gw.Evaluate(ctx, "release", release.FnGet, mustMarshal(release.RefArgs{Work: work, Owner: owner.Label()}))
	if err != nil {
		t.Fatal(err)
	}
	var v release.View
	if err := json.Unmarshal(out, &v); err != nil || len(v.Shares) != 0 {
		t.Fatalf("shares on the ledger before T: %v %+v", err, v.Shares)
	}
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
