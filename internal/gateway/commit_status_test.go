package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/commit"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// newCA returns an organisation's root CA as a signing identity.
func newCA(t *testing.T, org string) *identity.SigningIdentity {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := identity.NewRootCA(org, "ca", key, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := identity.NewSigningIdentity(identity.Identity{Cert: root}, key)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// enroll issues a client certificate of org's CA.
func enroll(t *testing.T, ca *identity.SigningIdentity, org, name string) *identity.SigningIdentity {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.Issue(ca.Cert, ca.Key(), identity.LeafRequest{Name: name, Role: identity.RoleClient, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	si, err := identity.NewSigningIdentity(identity.Identity{MSPID: org + "MSP", Org: org, Name: name, Role: identity.RoleClient, Cert: cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	return si
}

// statusRequest is txID's commit-status request signed by id.
func statusRequest(t *testing.T, id *identity.SigningIdentity, txID string) *foliov1.SignedCommitStatusRequest {
	t.Helper()
	raw, err := proto.Marshal(&foliov1.CommitStatusRequest{TxId: txID, Identity: id.Serialized()})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := id.Sign(types.DomainCommitStatus, raw)
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.SignedCommitStatusRequest{Request: raw, Signature: sig}
}

// statusGateway is a gateway whose MSP knows Org1 and whose committer is
// fake; refused collects the limits it reports.
type statusGateway struct {
	*Gateway
	commits *fakeCommits
	user    *identity.SigningIdentity
	mu      sync.Mutex
	refused []string
}

func newStatusGateway(t *testing.T) *statusGateway {
	ca := newCA(t, "Org1")
	msp, err := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: ca.Cert}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &statusGateway{commits: newFakeCommits(), user: enroll(t, ca, "Org1", "user1")}
	g, _ := txGateway(t, "OR('Org1MSP.peer')")
	g.o.MSP, g.o.Committer = msp, s.commits
	g.o.Refused = func(setting string) {
		s.mu.Lock()
		s.refused = append(s.refused, setting)
		s.mu.Unlock()
	}
	s.Gateway = g
	return s
}

func (s *statusGateway) status(ctx context.Context, req *foliov1.SignedCommitStatusRequest) (*foliov1.CommitStatusResponse, error) {
	resp, err := s.CommitStatus(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func TestCommitStatusAlreadyCommitted(t *testing.T) {
	for _, st := range []commit.Status{
		{TxID: "tx1", Code: foliov1.ValidationCode_VALID, Block: 3},
		{TxID: "tx2", Code: foliov1.ValidationCode_MVCC_READ_CONFLICT, Block: 4, Reason: `read copyright/"work/W1" at 2:0, committed 3:1`},
		{TxID: "tx3", Code: foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE, Block: 5, Reason: "missing 'Org2MSP.peer'"},
	} {
		s := newStatusGateway(t)
		s.commits.commit(st)
		got, err := s.status(context.Background(), statusRequest(t, s.user, st.TxID))
		if err != nil {
			t.Fatalf("%s: %v", st.TxID, err)
		}
		if got.Result != st.Code || got.BlockNumber != st.Block || got.Reason != st.Reason {
			t.Errorf("%s: got %v in block %d (%q), want %v in block %d (%q)", st.TxID, got.Result, got.BlockNumber, got.Reason, st.Code, st.Block, st.Reason)
		}
	}
}

// TestCommitStatusCommittedLater: the call waits until the transaction
// commits, then reports it.
func TestCommitStatusCommittedLater(t *testing.T) {
	s := newStatusGateway(t)
	type result struct {
		resp *foliov1.CommitStatusResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := s.status(context.Background(), statusRequest(t, s.user, "tx9"))
		done <- result{resp, err}
	}()
	if id := <-s.commits.waiting; id != "tx9" {
		t.Fatalf("waits for %s", id)
	}
	s.commits.commit(commit.Status{TxID: "tx9", Code: foliov1.ValidationCode_VALID, Block: 12})
	r := <-done
	if r.err != nil || r.resp.Result != foliov1.ValidationCode_VALID || r.resp.BlockNumber != 12 {
		t.Fatalf("got %v, %v", r.resp, r.err)
	}
}

// TestCommitStatusTimeouts: the caller's deadline ends a wait with
// DeadlineExceeded; so does MaxCommitWait, naming the limit and counting
// the refusal.
func TestCommitStatusTimeouts(t *testing.T) {
	s := newStatusGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := s.status(ctx, statusRequest(t, s.user, "tx1"))
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded || !strings.Contains(err.Error(), "transaction tx1 not committed on peer0.org1 yet") {
		t.Fatalf("caller's deadline: %v", err)
	}
	if len(s.refused) != 0 {
		t.Fatalf("the caller's deadline is not a limit: %v", s.refused)
	}

	s.o.MaxCommitWait = time.Millisecond
	_, err = s.status(context.Background(), statusRequest(t, s.user, "tx2"))
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded || !strings.Contains(err.Error(), "the most one wait may take (limit "+SettingMaxCommitWait+")") {
		t.Fatalf("MaxCommitWait: %v", err)
	}
	if len(s.refused) != 1 || s.refused[0] != SettingMaxCommitWait {
		t.Fatalf("refusals counted: %v", s.refused)
	}
}

// TestCommitStatusRefusesUnsignedOrStrangers: only a consortium member
// whose request is signed may wait.
func TestCommitStatusRefusesUnsignedOrStrangers(t *testing.T) {
	s := newStatusGateway(t)
	s.commits.commit(commit.Status{TxID: "tx1", Code: foliov1.ValidationCode_VALID, Block: 3})
	stranger := enroll(t, newCA(t, "Org1"), "Org1", "user1") // same names, another CA
	forged := statusRequest(t, s.user, "tx1")
	forged.Signature[len(forged.Signature)-1] ^= 1
	for _, tc := range []struct {
		name     string
		req      *foliov1.SignedCommitStatusRequest
		wantCode connect.Code
		wantMsg  string
	}{
		{"undecodable request", &foliov1.SignedCommitStatusRequest{Request: []byte{0xff}}, connect.CodeInvalidArgument, "commit status request"},
		{"identity of another CA", statusRequest(t, stranger, "tx1"), connect.CodePermissionDenied, "Org1MSP"},
		{"bad signature", forged, connect.CodeUnauthenticated, "commit status request of user1@Org1"},
	} {
		_, err := s.status(context.Background(), tc.req)
		if connect.CodeOf(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.wantCode, tc.wantMsg)
		}
	}
}
