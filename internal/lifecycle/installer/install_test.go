package installer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/types"
)

// The installer against hand-written fakes of the enclave and of the
// chain (ordering and commit), over a real registry and real identities:
// who may install, which packages are refused and why, and that the
// install record reaches the chain exactly once.

// fakeEnclave records the modules it loads; err, if set, refuses them.
type fakeEnclave struct {
	mu     sync.Mutex
	loaded []string
	err    error
}

func (e *fakeEnclave) Install(_ context.Context, m enclave.Module) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	if m.Signed == nil {
		return fmt.Errorf("%w: the installer handed over no signed package", enclave.ErrUntrustedModule)
	}
	e.loaded = append(e.loaded, m.Name+"/"+m.Version)
	return nil
}

// fakeChain orders and commits the installer's transactions at once, one
// block each, applying their lifecycle records to the registry as the
// committer would; it is the installer's Submit and Committer. gate, if
// set, holds every Submit until it is closed, after telling submitting.
type fakeChain struct {
	t   *testing.T
	msp *identity.Verifier
	reg *lifecycle.Registry

	gate       chan struct{}
	submitting chan string
	// reject, if set, marks every transaction invalid.
	reject bool

	mu        sync.Mutex
	height    uint64
	submitted []string // tx IDs
	statuses  map[string]commit.Status
}

func (c *fakeChain) Height() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height
}

func (c *fakeChain) Wait(ctx context.Context, txID string) (commit.Status, error) {
	c.mu.Lock()
	st, ok := c.statuses[txID]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	<-ctx.Done()
	return commit.Status{}, ctx.Err()
}

func (c *fakeChain) Submit(ctx context.Context, env *foliov1.Envelope) error {
	p, err := types.ParseEnvelope(env)
	if err != nil {
		return err
	}
	if c.gate != nil {
		c.submitting <- p.Header.TxId
		select {
		case <-c.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.submitted = append(c.submitted, p.Header.TxId)
	st := commit.Status{TxID: p.Header.TxId, Block: c.height, Code: foliov1.ValidationCode_VALID}
	if err := c.apply(p); err != nil || c.reject {
		st.Code, st.Reason = foliov1.ValidationCode_LIFECYCLE_REJECTED, fmt.Sprint(err)
	}
	c.statuses[p.Header.TxId] = st
	c.height++
	return nil
}

// apply validates and commits a lifecycle transaction as block c.height.
func (c *fakeChain) apply(p *foliov1.Payload) error {
	if c.reject {
		return errors.New("rejected by the test")
	}
	creator, err := c.msp.ValidateSerialized(p.Header.Creator)
	if err != nil {
		return err
	}
	rules := lifecycle.Rules{ChannelID: "folio", Block: c.height}
	tx, err := c.reg.CheckTx(c.msp, creator, p.Data, rules)
	if err != nil {
		return err
	}
	b := c.reg.NewBatch(rules)
	if _, err := b.Apply(0, p.Header.TxId, tx); err != nil {
		return err
	}
	c.reg.Commit(b)
	return nil
}

func (c *fakeChain) submissions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.submitted)
}

// callerKey carries the identity a test's request comes from.
type callerKey struct{}

func as(id *identity.SigningIdentity) context.Context {
	return context.WithValue(context.Background(), callerKey{}, &id.Identity)
}

// installEnv is peer0.org1's installer on a channel of Org1 and Org2
// defining copyright version 1 (module v1), not confidential.
type installEnv struct {
	in                    *Installer
	reg                   *lifecycle.Registry
	enclave               *fakeEnclave
	chain                 *fakeChain
	org1, org2            *identitytest.Org
	admin1, admin2, user1 *identity.SigningIdentity
	v1                    []byte
}

func newInstallEnv(t *testing.T) *installEnv {
	t.Helper()
	e := &installEnv{org1: identitytest.NewOrg(t, "Org1"), org2: identitytest.NewOrg(t, "Org2"), enclave: &fakeEnclave{}, v1: []byte("\x00asm copyright v1")}
	e.admin1, e.admin2 = e.org1.Member(t, "admin", identity.RoleAdmin), e.org2.Member(t, "admin", identity.RoleAdmin)
	e.user1 = e.org1.Member(t, "user1", identity.RoleClient)
	msp, err := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: e.org1.CA.Cert}, {Name: "Org2", MSPID: "Org2MSP", Root: e.org2.CA.Cert}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(e.v1)
	cfg := &foliov1.ChannelConfig{ChannelId: "folio",
		Orgs:  []*foliov1.OrgConfig{{Name: "Org1", MspId: "Org1MSP"}, {Name: "Org2", MspId: "Org2MSP"}},
		Peers: []*foliov1.NodeEndpoint{{Name: "peer0.org1", Org: "Org1"}, {Name: "peer0.org2", Org: "Org2"}},
		Contracts: []*foliov1.ContractDefinition{{Name: "copyright", Version: "1",
			EndorsementPolicy: "AND('Org1MSP.peer','Org2MSP.peer')", PackageHash: sum[:]}}}
	if e.reg, err = lifecycle.New(t.TempDir(), cfg); err != nil {
		t.Fatal(err)
	}
	e.chain = &fakeChain{t: t, msp: msp, reg: e.reg, height: 1, statuses: map[string]commit.Status{}}
	e.in, err = New(Options{ChannelID: "folio", Self: e.org1.Member(t, "peer0.org1", identity.RolePeer), MSP: msp, Contracts: e.reg,
		Enclave: e.enclave, Committer: e.chain, Submit: e.chain.Submit, RecordTimeout: time.Minute,
		Caller: func(ctx context.Context) (*identity.Identity, bool) {
			id, ok := ctx.Value(callerKey{}).(*identity.Identity)
			return id, ok
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// pkg packages wasm as packager.
func pkg(t *testing.T, packager *identity.SigningIdentity, version string, wasm []byte, confidential bool) *foliov1.SignedContractPackage {
	t.Helper()
	p, err := types.PackageContract(packager, "copyright", version, wasm, confidential)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// resigned decodes a package, lets change alter it, and signs it again as
// packager: a package whose signature is valid but whose content lies.
func resigned(t *testing.T, p *foliov1.SignedContractPackage, packager *identity.SigningIdentity, change func(*foliov1.ContractPackage)) *foliov1.SignedContractPackage {
	t.Helper()
	var cp foliov1.ContractPackage
	if err := proto.Unmarshal(p.Package, &cp); err != nil {
		t.Fatal(err)
	}
	change(&cp)
	raw, err := proto.Marshal(&cp)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := packager.Sign(types.DomainPackage, raw)
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.SignedContractPackage{Package: raw, Signature: sig}
}

func (e *installEnv) install(ctx context.Context, p *foliov1.SignedContractPackage) (*foliov1.InstallResponse, error) {
	resp, err := e.in.Install(ctx, connect.NewRequest(&foliov1.InstallRequest{Package: p}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func TestInstallRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ctx      func(e *installEnv) context.Context
		pkg      func(t *testing.T, e *installEnv) *foliov1.SignedContractPackage
		setup    func(t *testing.T, e *installEnv)
		wantCode connect.Code
		wantMsg  string
	}{{
		name:     "no caller identity",
		ctx:      func(*installEnv) context.Context { return context.Background() },
		wantCode: connect.CodeUnauthenticated,
		wantMsg:  "no caller identity",
	}, {
		name:     "a client of the peer's organisation",
		ctx:      func(e *installEnv) context.Context { return as(e.user1) },
		wantCode: connect.CodePermissionDenied,
		wantMsg:  "installing on peer0.org1 takes an admin of Org1MSP; user1@Org1 is a client of Org1MSP",
	}, {
		name:     "an admin of another organisation",
		ctx:      func(e *installEnv) context.Context { return as(e.admin2) },
		wantCode: connect.CodePermissionDenied,
		wantMsg:  "takes an admin of Org1MSP; admin@Org2 is a admin of Org2MSP",
	}, {
		name: "the module's hash is not the package's",
		pkg: func(t *testing.T, e *installEnv) *foliov1.SignedContractPackage {
			return resigned(t, pkg(t, e.admin1, "1", e.v1, false), e.admin1, func(p *foliov1.ContractPackage) { p.Wasm = []byte("\x00asm another module") })
		},
		wantCode: connect.CodeInvalidArgument,
		wantMsg:  "bad contract package: the module's SHA-256 is",
	}, {
		name: "the packager's signature does not verify",
		pkg: func(t *testing.T, e *installEnv) *foliov1.SignedContractPackage {
			p := pkg(t, e.admin1, "1", e.v1, false)
			p.Signature[len(p.Signature)-1] ^= 1
			return p
		},
		wantCode: connect.CodeInvalidArgument,
		wantMsg:  "bad contract package: signature of packager admin@Org1",
	}, {
		name: "a packager outside the consortium",
		pkg: func(t *testing.T, e *installEnv) *foliov1.SignedContractPackage {
			return pkg(t, identitytest.NewOrg(t, "Org3").Member(t, "admin", identity.RoleAdmin), "1", e.v1, false)
		},
		wantCode: connect.CodeInvalidArgument,
		wantMsg:  "bad contract package: packager: ",
	}, {
		name: "a packager claiming an organisation whose CA did not issue it",
		pkg: func(t *testing.T, e *installEnv) *foliov1.SignedContractPackage {
			return pkg(t, e.org2.MemberClaiming(t, "admin", identity.RoleAdmin, "Org1MSP"), "1", e.v1, false)
		},
		wantCode: connect.CodeInvalidArgument,
		wantMsg:  "bad contract package: packager: ",
	}, {
		name: "an undecodable package",
		pkg: func(*testing.T, *installEnv) *foliov1.SignedContractPackage {
			return &foliov1.SignedContractPackage{Package: []byte{0xff}}
		},
		wantCode: connect.CodeInvalidArgument,
		wantMsg:  "bad contract package: does not decode",
	}, {
		name: "another module under a version the channel defines",
		pkg: func(t *testing.T, e *installEnv) *foliov1.SignedContractPackage {
			return pkg(t, e.admin1, "1", []byte("\x00asm v1, rebuilt"), false)
		},
		wantCode: connect.CodeFailedPrecondition,
		wantMsg:  "copyright version 1 is defined on this channel with package hash",
	}, {
		name: "confidential where the channel's contract is not",
		pkg: func(t *testing.T, e *installEnv) *foliov1.SignedContractPackage {
			return pkg(t, e.admin1, "2", []byte("\x00asm v2"), true)
		},
		wantCode: connect.CodeFailedPrecondition,
		wantMsg:  "copyright is not confidential on this channel; the package says otherwise",
	}, {
		name: "the enclave refuses the module",
		setup: func(_ *testing.T, e *installEnv) {
			e.enclave.err = &vm.ModuleError{Name: "copyright", Version: "1", Err: errors.New("no exported function invoke")}
		},
		wantCode: connect.CodeInvalidArgument,
		wantMsg:  "the enclave refused the module: contract copyright version 1: no exported function invoke",
	}, {
		// The enclave runs only admins' packages; the installer says so
		// before loading anything.
		name: "a package signed by a client",
		pkg: func(t *testing.T, e *installEnv) *foliov1.SignedContractPackage {
			return pkg(t, e.user1, "1", e.v1, false)
		},
		wantCode: connect.CodePermissionDenied,
		wantMsg:  "is signed by user1@Org1, a client: the enclave runs only modules packaged by an admin",
	}, {
		name: "the enclave does not trust the packager",
		setup: func(_ *testing.T, e *installEnv) {
			e.enclave.err = fmt.Errorf("install copyright 1: %w: packager: unknown organisation", enclave.ErrUntrustedModule)
		},
		wantCode: connect.CodePermissionDenied,
		wantMsg:  "the enclave refused the module: install copyright 1: module refused: not signed by an admin",
	}, {
		name:     "the enclave is down",
		setup:    func(_ *testing.T, e *installEnv) { e.enclave.err = errors.New("enclave process restarting") },
		wantCode: connect.CodeFailedPrecondition,
		wantMsg:  "load into the enclave: enclave process restarting",
	}, {
		name: "another module already installed under the version",
		setup: func(t *testing.T, e *installEnv) {
			if err := e.reg.Store("copyright", "1", []byte("\x00asm stale"), false); err != nil {
				t.Fatal(err)
			}
		},
		wantCode: connect.CodeFailedPrecondition,
		wantMsg:  "copyright version 1 is already installed with another module",
	}, {
		name:     "the install record does not commit",
		setup:    func(_ *testing.T, e *installEnv) { e.chain.reject = true },
		wantCode: connect.CodeUnavailable,
		wantMsg:  "is installed on peer0.org1, but its install record did not commit: install record ",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newInstallEnv(t)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			ctx := as(e.admin1)
			if tc.ctx != nil {
				ctx = tc.ctx(e)
			}
			p := pkg(t, e.admin1, "1", e.v1, false)
			if tc.pkg != nil {
				p = tc.pkg(t, e)
			}
			_, err := e.install(ctx, p)
			if connect.CodeOf(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v\nwant %v containing %q", err, tc.wantCode, tc.wantMsg)
			}
			if tc.wantCode != connect.CodeUnavailable && e.chain.submissions() != 0 {
				t.Fatalf("a refused install submitted %d records", e.chain.submissions())
			}
		})
	}
}

// TestInstallRecordsOnce: an admin's install loads the module, stores it,
// records it on chain and lifts the halt; installing it again finds the
// record and submits nothing.
func TestInstallRecordsOnce(t *testing.T) {
	e := newInstallEnv(t)
	e.in.CheckHalted(e.chain.Height())
	if got := testutil.ToFloat64(e.in.halted.WithLabelValues("copyright")); got != 1 {
		t.Fatalf("before the install copyright is halted: gauge %v, want 1", got)
	}
	first, err := e.install(as(e.admin1), pkg(t, e.admin1, "1", e.v1, false))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(e.v1)
	if want := types.PackageID("copyright", "1", sum[:]); first.PackageId != want || first.TxId == "" || first.BlockNumber != 1 {
		t.Fatalf("response %v, want package %s recorded in block 1", first, want)
	}
	if rec, ok := e.reg.Installed("copyright", "1", "peer0.org1"); !ok || rec.TxID != first.TxId || !bytes.Equal(rec.PackageHash, sum[:]) {
		t.Fatalf("install record on chain: %+v, %v", rec, ok)
	}
	if got := testutil.ToFloat64(e.in.halted.WithLabelValues("copyright")); got != 0 {
		t.Fatalf("after the install: gauge %v, want 0", got)
	}
	again, err := e.install(as(e.admin1), pkg(t, e.admin1, "1", e.v1, false))
	if err != nil {
		t.Fatal(err)
	}
	if again.TxId != first.TxId || again.BlockNumber != first.BlockNumber || e.chain.submissions() != 1 {
		t.Fatalf("second install: record %s in block %d, %d submitted; want the first record, 1 submitted", again.TxId, again.BlockNumber, e.chain.submissions())
	}
	if len(e.enclave.loaded) != 2 {
		t.Fatalf("enclave loads: %v (each install loads the module, the enclave ignores a repeat)", e.enclave.loaded)
	}
	list, err := e.in.Installed(context.Background(), connect.NewRequest(&foliov1.InstalledRequest{}))
	if err != nil || len(list.Msg.Packages) != 1 || list.Msg.Packages[0].Version != "1" || list.Msg.Peer != "peer0.org1" {
		t.Fatalf("installed: %v, %v", list.Msg, err)
	}
}

// TestConcurrentDuplicateInstalls: while one install's record is on its
// way, the same package installed again does not submit a second record;
// it says so, and the first completes.
func TestConcurrentDuplicateInstalls(t *testing.T) {
	e := newInstallEnv(t)
	e.chain.gate, e.chain.submitting = make(chan struct{}), make(chan string, 2)
	type result struct {
		resp *foliov1.InstallResponse
		err  error
	}
	first := make(chan result, 1)
	go func() {
		r, err := e.install(as(e.admin1), pkg(t, e.admin1, "1", e.v1, false))
		first <- result{r, err}
	}()
	<-e.chain.submitting // the first record is being ordered
	_, err := e.install(as(e.admin1), pkg(t, e.admin1, "1", e.v1, false))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "an install record of copyright/1 is already under way") {
		t.Fatalf("duplicate install: %v", err)
	}
	close(e.chain.gate)
	if r := <-first; r.err != nil || r.resp.TxId == "" {
		t.Fatalf("first install: %v, %v", r.resp, r.err)
	}
	if n := e.chain.submissions(); n != 1 {
		t.Fatalf("%d records submitted, want 1", n)
	}
}

// TestReconcileRecordsLocalPackages: a package placed on the peer without
// an install (a genesis contract) is recorded by the background
// reconciliation, once, and only after the genesis block is committed.
func TestReconcileRecordsLocalPackages(t *testing.T) {
	e := newInstallEnv(t)
	if err := e.reg.Store("copyright", "1", e.v1, false); err != nil {
		t.Fatal(err)
	}
	e.chain.height = 0
	if pending, err := e.in.reconcile(context.Background()); !pending || err != nil || e.chain.submissions() != 0 {
		t.Fatalf("before genesis: pending %v, %v, %d submitted", pending, err, e.chain.submissions())
	}
	e.chain.height = 1
	for range 2 {
		if pending, err := e.in.reconcile(context.Background()); pending || err != nil {
			t.Fatalf("reconcile: pending %v, %v", pending, err)
		}
	}
	if _, ok := e.reg.Installed("copyright", "1", "peer0.org1"); !ok || e.chain.submissions() != 1 {
		t.Fatalf("recorded: %v, %d submitted; want recorded once", ok, e.chain.submissions())
	}
	e.chain.reject = true
	if err := e.reg.Store("copyright", "2", []byte("\x00asm v2"), false); err != nil {
		t.Fatal(err)
	}
	if pending, err := e.in.reconcile(context.Background()); !pending || err == nil || !strings.Contains(err.Error(), "copyright version 2: install record ") {
		t.Fatalf("a record that does not commit stays pending: %v, %v", pending, err)
	}
}

// TestRunReconcilesWhenKicked: Run reconciles when kicked and stops with
// its context.
func TestRunReconcilesWhenKicked(t *testing.T) {
	e := newInstallEnv(t)
	if err := e.reg.Store("copyright", "1", e.v1, false); err != nil {
		t.Fatal(err)
	}
	e.chain.gate, e.chain.submitting = make(chan struct{}), make(chan string, 1)
	close(e.chain.gate) // Submit only reports
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		e.in.Run(ctx)
		close(done)
	}()
	e.in.Kick()
	<-e.chain.submitting
	cancel()
	<-done
}

func TestOptionsValidate(t *testing.T) {
	_, err := New(Options{RecordTimeout: -1})
	if err == nil || !strings.Contains(err.Error(), "Self, MSP, Contracts, Enclave, Committer, Submit, Caller, Logger required") {
		t.Fatalf("New(empty) = %v", err)
	}
}
