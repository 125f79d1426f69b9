package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/attack"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/types"
)

// TestOneTruthUnderAttack is the adversarial suite of the issue "One truth
// on every peer" (DESIGN.md 6: no enrolled client, single admin or single
// organisation can make two honest peers disagree; endorsements count
// only from peers of the channel, blocks only from its orderers). A
// hostile party holding only what the network directory gives it (its
// wallet keys, an organisation's CA key, a node's key) attacks one real
// network, through the Go packages of this module. Every attack ends
// with: the attack refused or harmless, the attack transaction's
// validation code the same on every peer, and every peer at the same
// height with the same state root after every block (checkCommitted, the
// check of the failover and peer-kill tests).
//
// The attacks share one network (about 100 s in all on 2 cores, 65 s of
// it the forged block), in an order that keeps each one whole: the forged
// block, which stops a peer and kills the orderers one at a time, comes
// last. Run one alone with -run 'TestOneTruthUnderAttack/<Name>' (a
// network of its own is started for it). An attack that succeeds forks
// the network, so later subtests then report the fork too; each subtest
// says when the network had already diverged before it started.
func TestOneTruthUnderAttack(t *testing.T) {
	n := newCopyrightNet(t)
	for _, a := range []struct {
		name string
		run  func(*testing.T, *adversary)
	}{
		{"CorruptedOwnEndorsement", advCorruptedOwnEndorsement},
		{"ClientEndorsesAsOrganisation", advClientEndorsesAsOrganisation},
		{"EndorserNotAPeerOfTheChannel", advEndorserNotAPeerOfTheChannel},
		{"DuplicatedEndorsingOrgs", advDuplicatedEndorsingOrgs},
		{"ReplayedActivations", advReplayedActivations},
		{"RevocationRacingItsTransactions", advRevocationRace},
		{"BlockSignedByMintedOrdererCert", advForgedBlock},
	} {
		t.Run(a.name, func(t *testing.T) {
			adv := newAdversary(t, n)
			start := time.Now()
			a.run(t, adv)
			t.Logf("%s took %s", a.name, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// adversary is the attacker's view of the shared network, bound to one
// subtest (so that helpers fail the subtest, not the parent).
type adversary struct {
	t *testing.T
	n *network
	s *sdk
}

func newAdversary(t *testing.T, shared *network) *adversary {
	t.Helper()
	n := &network{t: t, dir: shared.dir, env: shared.env}
	a := &adversary{t: t, n: n, s: newSDK(t, n)}
	if b, ok := a.divergence(); ok {
		t.Logf("WARNING: the peers already disagree on the state root of block %d before this attack (an earlier attack forked the network); the final check fails for that too", b)
	}
	return a
}

// divergence reports the first block whose state root differs between
// peers that hold it, without failing.
func (a *adversary) divergence() (uint64, bool) {
	peers := a.s.peers()
	h := ^uint64(0)
	for _, p := range peers {
		if ph, err := a.tryHeight(p.Name); err == nil {
			h = min(h, ph)
		} else {
			return 0, false
		}
	}
	for num := uint64(0); num < h; num++ {
		var ref []byte
		for i, p := range peers {
			b, err := a.tryBlock(p.Name, num)
			if err != nil {
				return 0, false
			}
			if i == 0 {
				ref = b.GetMetadata().GetStateRoot()
			} else if string(ref) != string(b.GetMetadata().GetStateRoot()) {
				return num, true
			}
		}
	}
	return 0, false
}

func (a *adversary) tryHeight(peer string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := a.s.chain(peer).GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
	if err != nil {
		return 0, err
	}
	return info.Msg.Height, nil
}

func (a *adversary) tryBlock(peer string, num uint64) (*foliov1.Block, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := a.s.chain(peer).GetBlock(ctx, connect.NewRequest(&foliov1.GetBlockRequest{Selector: &foliov1.GetBlockRequest_Number{Number: num}}))
	if err != nil {
		return nil, err
	}
	return b.Msg, nil
}

// gatewayRPC is the raw gateway service of a peer, as id: what a hostile
// client uses to call Endorse and Submit with messages of its own making.
func (a *adversary) gatewayRPC(peer string, id *identity.SigningIdentity) foliov1connect.GatewayServiceClient {
	return foliov1connect.NewGatewayServiceClient(client.HTTPClient(sdkIdentity(a.t, id), a.s.roots), "https://"+a.s.node(peer).API)
}

// advRegisterArgs are the arguments of copyright.register for a new work.
func advRegisterArgs(id string) [][]byte {
	sum := sha256.Sum256([]byte(id))
	args, _ := json.Marshal(map[string]string{"id": id, "title": "t", "author": "a", "content_hash": fmt.Sprintf("sha256:%x", sum)})
	return [][]byte{args}
}

// advWorkID is a work ID unique to this run.
func advWorkID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// endorse asks peer's gateway, as id, to endorse a registration of a new
// work (endorsing_orgs as given; none: as the policy requires).
func (a *adversary) endorse(peer string, id *identity.SigningIdentity, work string, orgs ...string) (*attack.Prepared, error) {
	sp, _, err := types.NewProposal(id, a.s.net.Channel, "copyright", "register", advRegisterArgs(work))
	if err != nil {
		a.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := a.gatewayRPC(peer, id).Endorse(ctx, connect.NewRequest(&foliov1.EndorseRequest{Proposal: sp, EndorsingOrgs: orgs}))
	if err != nil {
		return nil, err
	}
	p, err := attack.ParsePrepared(resp.Msg.PreparedPayload)
	if err != nil {
		a.t.Fatalf("%s returned a prepared payload that does not parse: %v", peer, err)
	}
	return p, nil
}

// mustEndorse is endorse for a request that must succeed.
func (a *adversary) mustEndorse(peer string, id *identity.SigningIdentity, work string) *attack.Prepared {
	a.t.Helper()
	p, err := a.endorse(peer, id, work)
	if err != nil {
		a.t.Fatalf("endorse %s through %s as %s: %v", work, peer, id.Label(), err)
	}
	return p
}

// submit hands env to the ordering service through peer's gateway, as a
// client would, and returns the gateway's answer (nil: accepted).
func (a *adversary) submit(peer string, id *identity.SigningIdentity, env *foliov1.Envelope, txID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := a.gatewayRPC(peer, id).Submit(ctx, connect.NewRequest(&foliov1.SubmitRequest{TxId: txID, Envelope: env}))
	return err
}

// advOutcome is what one peer says of one transaction.
type advOutcome struct {
	Block  uint64
	Code   foliov1.ValidationCode
	Reason string
	Err    string
}

func (o advOutcome) String() string {
	if o.Err != "" {
		return "error: " + o.Err
	}
	s := fmt.Sprintf("%s in block %d", o.Code, o.Block)
	if o.Reason != "" {
		s += " (" + firstLine(o.Reason) + ")"
	}
	return s
}

// advWatch waits for one transaction's commit status on every peer.
type advWatch struct {
	txID   string
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	m      map[string]advOutcome
}

// watch asks every peer's gateway for the commit status of txID, before
// the transaction is submitted: a peer gives the reason of an invalid
// transaction only to waits that were registered when it committed the
// block (a lookup afterwards gives the code and block only). Each wait
// lasts up to 45 s.
func (a *adversary) watch(txID string) *advWatch {
	id := a.s.signing("user1@Org1")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	w := &advWatch{txID: txID, cancel: cancel, done: make(chan struct{}), m: map[string]advOutcome{}}
	var wg sync.WaitGroup
	for _, p := range a.s.peers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := a.s.gateway(p.Name, sdkIdentity(a.t, id)).CommitStatus(ctx, txID)
			o := advOutcome{}
			if err != nil {
				o.Err = err.Error()
			} else {
				o = advOutcome{Block: res.Block, Code: res.Code, Reason: res.Reason}
			}
			w.mu.Lock()
			w.m[p.Name] = o
			w.mu.Unlock()
		}()
	}
	go func() {
		wg.Wait()
		close(w.done)
	}()
	// Let every peer register the wait before the transaction can commit.
	// Kept as a sleep: a peer shows no sign of a registered wait (no
	// metric counts them), so there is no event to wait for.
	time.Sleep(300 * time.Millisecond)
	return w
}

// outcomes returns what every peer said.
func (w *advWatch) outcomes() map[string]advOutcome {
	<-w.done
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.m)
}

// stop abandons the waits (the transaction was refused before ordering).
func (w *advWatch) stop() {
	w.cancel()
	<-w.done
}

func advDescribe(m map[string]advOutcome) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "\n    %s: %s", k, m[k])
	}
	return b.String()
}

// agree checks that every peer gave the same code in the same block and
// returns it.
func (a *adversary) agree(what string, m map[string]advOutcome) (foliov1.ValidationCode, bool) {
	a.t.Helper()
	var ref *advOutcome
	for _, p := range a.s.peers() {
		o, ok := m[p.Name]
		if !ok || o.Err != "" {
			a.t.Errorf("%s: %s gave no commit status:%s", what, p.Name, advDescribe(m))
			return 0, false
		}
		if ref == nil {
			ref = &o
		} else if o.Code != ref.Code || o.Block != ref.Block {
			a.t.Errorf("%s: the peers disagree on the transaction (a fork):%s", what, advDescribe(m))
			return 0, false
		}
	}
	return ref.Code, true
}

// judge is the end of an attack transaction: either it was refused
// before ordering (and is then on no peer's chain), or every peer gave it
// the same validation code, which must be want.
func (a *adversary) judge(what string, w *advWatch, submitErr error, want foliov1.ValidationCode) map[string]advOutcome {
	a.t.Helper()
	if submitErr != nil {
		w.stop()
		a.t.Logf("observed: %s: refused at submission: %v", what, firstLine(submitErr.Error()))
		a.absentEverywhere(what, w.txID)
		return nil
	}
	m := w.outcomes()
	code, ok := a.agree(what, m)
	switch {
	case !ok: // reported with every peer's answer
	case code != want:
		a.t.Errorf("%s: committed as %s on every peer, want %s:%s", what, code, want, advDescribe(m))
	default:
		a.t.Logf("observed: %s:%s", what, advDescribe(m))
	}
	return m
}

// absentEverywhere checks that a transaction refused before ordering is
// in no peer's chain once the network is quiet.
func (a *adversary) absentEverywhere(what, txID string) {
	a.t.Helper()
	quietHeight(a.t, a.s)
	for _, p := range a.s.peers() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		tx, err := a.s.chain(p.Name).GetTransaction(ctx, connect.NewRequest(&foliov1.GetTransactionRequest{TxId: txID}))
		cancel()
		if err == nil {
			a.t.Errorf("%s: refused at submission, yet %s holds it in block %d as %s", what, p.Name, tx.Msg.BlockNumber, tx.Msg.ValidationCode)
		} else if connect.CodeOf(err) != connect.CodeNotFound {
			a.t.Errorf("%s: transaction lookup on %s: %v", what, p.Name, err)
		}
	}
}

// register commits a new work through the SDK (an honest client), so a
// block is cut; it returns the transaction for checkCommitted.
func (a *adversary) register(peer, user string) committedTx {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := a.s.gateway(peer, a.s.identity(user)).Submit(ctx, "copyright", "register", advRegisterArgs(advWorkID("ADV-HONEST")), client.SubmitOptions{})
	if err != nil {
		a.t.Fatalf("an honest registration through %s as %s: %v", peer, user, err)
	}
	return committedTx{res.TxID, res.Block}
}

// finish is the common end of every attack: an honest transaction still
// commits, and checkCommitted (every peer at the same height, every
// acknowledged transaction VALID in its block on every peer, the same
// state root on every peer after every block).
func (a *adversary) finish(done ...committedTx) {
	a.t.Helper()
	done = append(done, a.register("peer0.org2", "user1@Org2"))
	height, _ := checkCommitted(a.t, a.s, done)
	a.t.Logf("every peer at height %d with the same state root after every block", height)
}

// 1. Corrupted own-endorsement signature, every peer in turn as the
// gateway: the client asks peer X's gateway to endorse, flips one byte of
// the signature of X's own endorsement, signs the envelope and submits it
// through X. X must not skip verifying "its own" signature: every peer
// marks it ENDORSEMENT_POLICY_FAILURE.
func advCorruptedOwnEndorsement(t *testing.T, a *adversary) {
	for _, x := range a.s.peers() {
		t.Run(x.Name, func(t *testing.T) {
			a := newAdversary(t, a.n)
			user := a.s.signing("user1@" + x.Org)
			p := a.mustEndorse(x.Name, user, advWorkID("ADV1-"+x.Name))
			i, err := p.FindName(x.Name)
			if err != nil {
				t.Fatalf("%s's gateway did not include its own endorsement: %v", x.Name, err)
			}
			if err := p.CorruptSignature(i); err != nil {
				t.Fatal(err)
			}
			env, err := p.Envelope(user)
			if err != nil {
				t.Fatal(err)
			}
			w := a.watch(p.TxID())
			err = a.submit(x.Name, user, env, p.TxID())
			a.judge(fmt.Sprintf("%s's own endorsement with one byte flipped, submitted through %s", x.Name, x.Name), w, err,
				foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE)
		})
	}
	a.finish()
}

// 2. A client (or admin) of an organisation endorses in place of its
// peer, with a valid signature over the same response payload. Policies
// name peers; only peers of the channel endorse.
func advClientEndorsesAsOrganisation(t *testing.T, a *adversary) {
	for _, v := range []struct{ org, mspID, signer string }{
		{"Org1", "Org1MSP", "user1@Org1"},
		{"Org2", "Org2MSP", "admin@Org2"},
		{"Org1", "Org1MSP", "admin@Org1"},
	} {
		what := fmt.Sprintf("%s's peer endorsement replaced by %s's", v.mspID, v.signer)
		user := a.s.signing("user1@Org1")
		p := a.mustEndorse("peer0.org1", user, advWorkID("ADV2"))
		i, err := p.FindMSP(v.mspID)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Replace(i, a.s.signing(v.signer)); err != nil {
			t.Fatal(err)
		}
		env, err := p.Envelope(user)
		if err != nil {
			t.Fatal(err)
		}
		w := a.watch(p.TxID())
		err = a.submit("peer0.org2", user, env, p.TxID())
		a.judge(what, w, err, foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE)
	}
	a.finish()
}

// caOf loads an organisation's CA (its key is in the network directory:
// what a rogue administrator of that organisation holds).
func (a *adversary) caOf(kind string, name string) *attack.CA {
	a.t.Helper()
	for _, o := range a.s.net.Orgs {
		if (name != "" && o.Name == name) || (name == "" && o.Kind == kind) {
			ca, err := attack.LoadCA(filepath.Join(a.s.dir, "orgs", o.Name, "ca"), o.Name, o.MSPID)
			if err != nil {
				a.t.Fatal(err)
			}
			return ca
		}
	}
	a.t.Fatalf("no organisation %q (kind %q) in the network", name, kind)
	return nil
}

func (a *adversary) mint(ca *attack.CA, name string, role identity.Role) *identity.SigningIdentity {
	a.t.Helper()
	id, err := ca.Mint(name, role)
	if err != nil {
		a.t.Fatal(err)
	}
	return id
}

// 3. An endorsement by a peer-role certificate that is not a peer of the
// channel, in place of a required one: minted by the ordering
// organisation's CA (an organisation not in the policy), or by Org1's CA
// (a rogue Org1 admin) under a new name, or under the name of one of
// Org1's real peers with a new key.
func advEndorserNotAPeerOfTheChannel(t *testing.T, a *adversary) {
	ordererCA := a.caOf("orderer", "")
	org1CA := a.caOf("", "Org1")
	for _, v := range []struct {
		what    string
		replace string
		signer  *identity.SigningIdentity
	}{
		{"a peer certificate of the ordering organisation (" + ordererCA.MSPID + ") in place of Org2MSP's endorsement", "Org2MSP",
			a.mint(ordererCA, "peer0.orderer", identity.RolePeer)},
		{"a peer certificate freshly minted by Org1's CA, not a node of the channel, in place of Org1MSP's endorsement", "Org1MSP",
			a.mint(org1CA, "peer9.org1", identity.RolePeer)},
		{"a peer certificate minted by Org1's CA named peer0.org1 with a new key, in place of Org1MSP's endorsement", "Org1MSP",
			a.mint(org1CA, "peer0.org1", identity.RolePeer)},
	} {
		user := a.s.signing("user1@Org2")
		p := a.mustEndorse("peer0.org2", user, advWorkID("ADV3"))
		i, err := p.FindMSP(v.replace)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Replace(i, v.signer); err != nil {
			t.Fatal(err)
		}
		env, err := p.Envelope(user)
		if err != nil {
			t.Fatal(err)
		}
		w := a.watch(p.TxID())
		err = a.submit("peer1.org2", user, env, p.TxID())
		a.judge(v.what, w, err, foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE)
	}
	a.finish()
}

// vmCalls sums folio_enclave_vm_calls_total over every peer: the contract
// simulations (and queries) the peers ran.
func (a *adversary) vmCalls() float64 {
	var sum float64
	for _, p := range a.s.peers() {
		sum += metricValue(a.t, &p, "folio_enclave_vm_calls_total", "")
	}
	return sum
}

// 7. EndorseRequest.endorsing_orgs with 200 copies of Org1MSP (with and
// without Org2MSP), and with organisations not in the policy: the gateway
// deduplicates and caps them (no fan-out of 200 simulations) or refuses
// the request with invalid_argument; nothing crashes and nothing commits
// wrongly.
func advDuplicatedEndorsingOrgs(t *testing.T, a *adversary) {
	many := func(k int, org string) []string {
		out := make([]string, k)
		for i := range out {
			out[i] = org
		}
		return out
	}
	policyOrgs := map[string]bool{"Org1MSP": true, "Org2MSP": true}
	var done []committedTx
	for _, v := range []struct {
		name string
		orgs []string
	}{
		{"200 x Org1MSP + Org2MSP", append(many(200, "Org1MSP"), "Org2MSP")},
		{"200 x Org1MSP", many(200, "Org1MSP")},
		{"Org1MSP, Org2MSP and organisations not in the policy", []string{"Org1MSP", "Org2MSP", "OrdererMSP", "Org9MSP", "Org9MSP"}},
	} {
		distinct := map[string]bool{}
		for _, o := range v.orgs {
			distinct[o] = true
		}
		user := a.s.signing("user1@Org1")
		before := a.vmCalls()
		t0 := time.Now()
		p, err := a.endorse("peer0.org1", user, advWorkID("ADV7"), v.orgs...)
		took := time.Since(t0)
		// The simulations are counted when the enclaves report them:
		// read the counters once the fan-out (if any) has settled. Kept as
		// a sleep: the bound below is an upper one, so the point is to let
		// late simulations be counted, and there is no event for "no more".
		time.Sleep(500 * time.Millisecond)
		sims := a.vmCalls() - before
		// Peers run contract calls of their own: each peer's release
		// service polls the release contract every 2 s (release
		// PeerOptions.PollInterval), all in phase when the peers started
		// together. Allow one poll per peer for every 2 s the window
		// lasted, begun. A fan-out of the duplicates would be 200 calls.
		background := float64(len(a.s.peers()) * int(time.Since(t0)/(2*time.Second)+1))
		if err != nil {
			t.Logf("observed: endorsing_orgs = %s: %s after %s, %.0f contract calls on the peers: %s", v.name, connect.CodeOf(err), took.Round(time.Millisecond), sims, firstLine(err.Error()))
		} else {
			es, _ := p.Endorsers()
			t.Logf("observed: endorsing_orgs = %s: endorsed after %s with %d endorsements, %.0f contract calls on the peers", v.name, took.Round(time.Millisecond), len(es), sims)
		}
		if limit := float64(2*len(distinct)) + background; sims > limit {
			t.Errorf("endorsing_orgs = %s: the peers ran %.0f contract calls (at most %.0f: one per distinct organisation, twice over, and %.0f release polls): the gateway fanned out the duplicates", v.name, sims, limit, background)
		}
		if err != nil {
			switch connect.CodeOf(err) {
			case connect.CodeInvalidArgument:
			case connect.CodeUnknown, connect.CodeInternal:
				t.Errorf("endorsing_orgs = %s: refused without a clear error: %v", v.name, err)
			default:
				// Deduplicated, then the policy cannot be met (e.g. Org1MSP
				// alone): acceptable when no fan-out happened.
				if !strings.Contains(err.Error(), "polic") {
					t.Errorf("endorsing_orgs = %s: refused with %s, want invalid_argument or a policy error: %v", v.name, connect.CodeOf(err), err)
				}
			}
			continue
		}
		// Endorsed: only one endorsement per organisation of the policy.
		es, _ := p.Endorsers()
		seen := map[string]int{}
		for _, e := range es {
			seen[e.MSPID]++
		}
		for org, k := range seen {
			if !policyOrgs[org] || k > 1 {
				t.Errorf("endorsing_orgs = %s: the prepared transaction carries %d endorsements (by organisation: %v): not deduplicated to the policy's organisations", v.name, len(es), seen)
				break
			}
		}
		env, err := p.Envelope(user)
		if err != nil {
			t.Fatal(err)
		}
		// Whatever it commits as (valid: its endorsements meet the
		// policy), every peer must say the same.
		w := a.watch(p.TxID())
		if err := a.submit("peer0.org1", user, env, p.TxID()); err != nil {
			w.stop()
			t.Logf("observed: the transaction endorsed for endorsing_orgs = %s: refused at submission: %v", v.name, firstLine(err.Error()))
			a.absentEverywhere("the transaction endorsed for endorsing_orgs = "+v.name, p.TxID())
			continue
		}
		m := w.outcomes()
		if code, ok := a.agree("the transaction endorsed for endorsing_orgs = "+v.name, m); ok {
			t.Logf("observed: the transaction endorsed for endorsing_orgs = %s:%s", v.name, advDescribe(m))
			if code == foliov1.ValidationCode_VALID {
				done = append(done, committedTx{p.TxID(), m["peer0.org1"].Block})
			}
		}
	}
	// Nothing crashed.
	for _, nd := range a.n.status() {
		if nd.State != localnet.StateUp {
			t.Errorf("%s is %s after the endorsing_orgs attacks (%s)", nd.Name, nd.State, nd.Reason)
		}
	}
	a.finish(done...)
}

// contractStatus asks a peer for the copyright contract's status.
func (a *adversary) contractStatus(peer string) *foliov1.ContractStatus {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lc := foliov1connect.NewLifecycleServiceClient(client.HTTPClient(a.s.identity("user1@Org1"), a.s.roots), "https://"+a.s.node(peer).API)
	st, err := lc.Status(ctx, connect.NewRequest(&foliov1.ContractStatusRequest{Name: "copyright"}))
	if err != nil {
		a.t.Fatalf("contract status from %s: %v", peer, err)
	}
	return st.Msg
}

// settle commits an honest transaction and waits until every peer is two
// blocks past block b (so that a switch that an activation in b would
// have scheduled for b+1 is in force), and returns the transaction.
func (a *adversary) settle(b uint64) committedTx {
	a.t.Helper()
	var last committedTx
	for {
		last = a.register("peer0.org1", "user1@Org1")
		if last.block >= b+1 {
			break
		}
	}
	a.s.waitHeight(last.block, 30*time.Second)
	return last
}

// effective checks that every peer has the same effective version and
// definition sequence, and returns them.
func (a *adversary) effective() (string, uint64, []*foliov1.ActivationRecord) {
	a.t.Helper()
	var ver string
	var seq uint64
	var acts []*foliov1.ActivationRecord
	for i, p := range a.s.peers() {
		st := a.contractStatus(p.Name)
		if i == 0 {
			ver, seq, acts = st.EffectiveVersion, st.Sequence, st.Activations
		} else if st.EffectiveVersion != ver || st.Sequence != seq {
			a.t.Errorf("the peers disagree on the contract: %s has version %s (sequence %d), %s version %s (sequence %d)",
				a.s.peers()[0].Name, ver, seq, p.Name, st.EffectiveVersion, st.Sequence)
		}
	}
	return ver, seq, acts
}

// 6. Replayed, out-of-sequence and cross-channel activations: after two
// accepted activations (version 2, then back to version 1), a single
// admin re-wraps the exact LifecycleTx bytes (request and approvals) of
// each in a new envelope; every admin approves an activation whose
// sequence is one too far or the current one; and every admin approves
// one bound to "other-channel", submitted on this channel. Each is
// LIFECYCLE_REJECTED on every peer with a reason, and the effective
// version does not change.
func advReplayedActivations(t *testing.T, a *adversary) {
	pkg := filepath.Join(t.TempDir(), "copyright-v2.pkg")
	a.n.must("contract", "package", "--name", "copyright", "--version", "2", "--wasm", contractV2Wasm, "--out", pkg, "--as", "admin@Org1")
	a.n.must("contract", "install", pkg, "--all-peers")
	v1 := sha256.Sum256(readFile(t, contractWasm))
	hashes := map[string][]byte{"1": v1[:], "2": packageHash(t, pkg)}
	admin1, admin2 := a.s.identity("admin@Org1"), a.s.identity("admin@Org2")
	gw := a.s.gateway("peer0.org1", admin1)

	activation := func(version string, seq uint64, channel string) (*foliov1.Envelope, string) {
		t.Helper()
		act := &foliov1.Activation{Contract: "copyright", Version: version, PackageHash: hashes[version], AfterBlocks: 1,
			ChannelId: channel, Sequence: seq, ExpiresAtBlock: a.s.height("peer0.org1") + 100}
		env, txID, err := client.NewLifecycleEnvelope(admin1, a.s.net.Channel, &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Activate{Activate: act}},
			[]*client.Identity{admin1, admin2})
		if err != nil {
			t.Fatal(err)
		}
		return env, txID
	}
	// submitLifecycle submits through the SDK and returns the commit
	// status peer0.org1 reported (nil and the error if refused before
	// ordering).
	submitLifecycle := func(env *foliov1.Envelope, txID string) (*client.Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := gw.SubmitEnvelope(ctx, env, txID)
		var inv *client.InvalidError
		if err != nil && !errors.As(err, &inv) {
			return nil, err
		}
		return res, nil
	}
	var done []committedTx
	// The accepted activations whose bytes the attacker replays.
	accepted := map[string]*foliov1.Envelope{}
	for _, version := range []string{"2", "1"} {
		_, seq, _ := a.effective()
		env, txID := activation(version, seq+1, a.s.net.Channel)
		w := a.watch(txID)
		res, err := submitLifecycle(env, txID)
		if err != nil || res.Code != foliov1.ValidationCode_VALID {
			w.stop()
			t.Fatalf("honest activation of version %s (sequence %d, approved by both admins): %+v %v", version, seq+1, res, err)
		}
		a.judge("honest activation of version "+version, w, nil, foliov1.ValidationCode_VALID)
		done = append(done, committedTx{txID, res.Block}, a.settle(res.Block))
		if ver, _, _ := a.effective(); ver != version {
			t.Fatalf("after the activation of version %s in block %d, version %s is effective", version, res.Block, ver)
		}
		accepted[version] = env
	}

	attackTx := func(what string, env *foliov1.Envelope, txID string) {
		t.Helper()
		ver, seq, _ := a.effective()
		w := a.watch(txID)
		res, err := submitLifecycle(env, txID)
		m := a.judge(what, w, err, foliov1.ValidationCode_LIFECYCLE_REJECTED)
		if err == nil {
			for _, p := range a.s.peers() {
				if o := m[p.Name]; o.Code == foliov1.ValidationCode_LIFECYCLE_REJECTED && strings.TrimSpace(o.Reason) == "" {
					t.Errorf("%s: %s rejected it without a reason", what, p.Name)
				}
			}
			done = append(done, a.settle(res.Block))
		}
		now, nowSeq, acts := a.effective()
		if now != ver || nowSeq != seq {
			t.Errorf("%s: the effective version went from %s (sequence %d) to %s (sequence %d)", what, ver, seq, now, nowSeq)
		}
		for _, r := range acts {
			if r.TxId == txID {
				t.Errorf("%s: recorded as an activation of version %s from block %d", what, r.Version, r.StartBlock)
			}
		}
	}
	for _, version := range []string{"2", "1"} {
		data, err := attack.LifecycleData(accepted[version])
		if err != nil {
			t.Fatal(err)
		}
		env, txID, err := attack.RewrapLifecycle(serverIdentity(t, admin1), a.s.net.Channel, data)
		if err != nil {
			t.Fatal(err)
		}
		attackTx("the accepted activation of version "+version+" re-wrapped by admin@Org1 alone", env, txID)
	}
	other := func() string {
		if ver, _, _ := a.effective(); ver == "1" {
			return "2"
		}
		return "1"
	}
	_, seq, _ := a.effective()
	v := other()
	env, txID := activation(v, seq+2, a.s.net.Channel)
	attackTx(fmt.Sprintf("an activation of version %s with sequence %d (the next is %d), approved by both admins", v, seq+2, seq+1), env, txID)
	_, seq, _ = a.effective()
	v = other()
	env, txID = activation(v, seq, a.s.net.Channel)
	attackTx(fmt.Sprintf("an activation of version %s with the current sequence %d, approved by both admins", v, seq), env, txID)
	_, seq, _ = a.effective()
	v = other()
	env, txID = activation(v, seq+1, "other-channel")
	attackTx(fmt.Sprintf("an activation of version %s for channel other-channel, approved by both admins, submitted on %s", v, a.s.net.Channel), env, txID)
	a.finish(done...)
}

// 5. A fresh client registers works continuously while an admin revokes
// it; it also had six registrations endorsed before the revocation, which
// it submits (through a colluding client's connection, its own being
// refused once revoked) one a second after the revocation. The
// revocation is a config transaction committed in block N: every
// transaction of the client in a block after N is BAD_CREATOR_IDENTITY
// on every peer (or refused at admission), none of them is VALID, and
// every one of them has the same code on every peer.
func advRevocationRace(t *testing.T, a *adversary) {
	name := fmt.Sprintf("racer%d", time.Now().UnixNano()%1_000_000)
	var reg struct {
		Secret string `json:"secret"`
	}
	a.n.json(&reg, "ca", "register", "--org", "Org1", "--name", name)
	a.n.must("ca", "enroll", "--org", "Org1", "--name", name, "--secret", reg.Secret)
	x := a.s.signing(name + "@Org1")

	type attempt struct {
		txID string
		res  *client.Result
		err  error
		at   time.Time
	}
	var mu sync.Mutex
	var attempts []attempt
	valid := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k := 0; k < 2; k++ {
		gw := a.s.orgGateway("Org1", sdkIdentity(a.t, x), k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := gw.Submit(ctx, "copyright", "register", advRegisterArgs(advWorkID(fmt.Sprintf("ADV5-%d-%d", k, i))), client.SubmitOptions{})
				cancel()
				at := attempt{res: res, err: err, at: time.Now()}
				if res != nil {
					at.txID = res.TxID
				}
				mu.Lock()
				attempts = append(attempts, at)
				if err == nil {
					valid++
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond) // refused: do not spin
				}
			}
		}()
	}
	stopped := false
	finish := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer finish()
	eventually(t, 60*time.Second, name+"'s first registrations committed", func() error {
		mu.Lock()
		defer mu.Unlock()
		if valid < 5 {
			return fmt.Errorf("%d valid of %d", valid, len(attempts))
		}
		return nil
	})
	type preEndorsed struct {
		txID string
		env  *foliov1.Envelope
	}
	var pre []preEndorsed
	for i := 0; i < 6; i++ {
		p := a.mustEndorse("peer0.org1", x, advWorkID(fmt.Sprintf("ADV5-PRE-%d", i)))
		env, err := p.Envelope(x)
		if err != nil {
			t.Fatal(err)
		}
		pre = append(pre, preEndorsed{p.TxID(), env})
	}
	t0 := time.Now()
	r, err := a.n.run("ca", "revoke", "--org", "Org1", "--name", name, "--json")
	if err != nil {
		t.Fatalf("revoke %s: %v\n%s", name, err, r)
	}
	revokedAt := time.Now()
	t.Logf("observed: revoke returned after %s: %s", time.Since(t0).Round(time.Millisecond), strings.TrimSpace(r.stdout))
	var rev map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rev); err != nil {
		t.Fatalf("revoke --json: %v\n%s", err, r)
	}
	revBlock, haveBlock := uint64(0), false
	if b, ok := rev["block"].(float64); ok {
		revBlock, haveBlock = uint64(b), true
	} else {
		t.Errorf("revoke printed no \"block\": the revocation is not a config transaction committed at a known block (%s)", strings.TrimSpace(r.stdout))
	}
	// Keep streaming a while: after the revocation's block on chain, and
	// past the nodes' revocation-list refresh (5 s); meanwhile submit the
	// pre-endorsed transactions, one a second.
	colluder := a.s.signing("user1@Org1")
	preRefused := 0
	for _, pe := range pre {
		if err := a.submit("peer0.org1", colluder, pe.env, pe.txID); err != nil {
			preRefused++
			t.Logf("observed: pre-endorsed transaction %s submitted %s after the revocation: refused: %s", pe.txID, time.Since(revokedAt).Round(time.Millisecond), firstLine(err.Error()))
		}
		time.Sleep(time.Second) // the point: spread the submissions past the revocation-list refresh

	}
	finish()

	height := quietHeight(t, a.s)
	// Every transaction of the revoked identity on every peer's chain.
	creator := string(x.Serialized())
	type onChain struct {
		block uint64
		code  foliov1.ValidationCode
	}
	chains := map[string]map[string]onChain{}
	configAt := map[uint64]foliov1.ValidationCode{}
	blockTime := map[uint64]time.Time{}
	for _, p := range a.s.peers() {
		txs := map[string]onChain{}
		for num := uint64(1); num < height; num++ {
			b := a.s.block(p.Name, num)
			if p.Name == a.s.peers()[0].Name {
				blockTime[num] = time.Unix(0, b.GetHeader().GetTimestampUnixNano())
			}
			codes := b.GetMetadata().GetValidationCodes()
			for i, raw := range b.GetData().GetEnvelopes() {
				env := &foliov1.Envelope{}
				if err := proto.Unmarshal(raw, env); err != nil {
					continue
				}
				pl, err := types.ParseEnvelope(env)
				if err != nil {
					continue
				}
				code := foliov1.ValidationCode(codes[i])
				if pl.Header.Type == foliov1.TxType_TX_TYPE_CONFIG && p.Name == a.s.peers()[0].Name {
					configAt[num] = code
				}
				if string(pl.Header.Creator) == creator {
					txs[pl.Header.TxId] = onChain{num, code}
				}
			}
		}
		chains[p.Name] = txs
	}
	ref := a.s.peers()[0].Name
	perBlock := map[string]int{}
	validAfterRevoke, lastValidAfter := 0, time.Duration(0)
	refusedAtAdmission := 0
	for _, at := range attempts {
		if at.err != nil && (at.res == nil || at.res.Code == foliov1.ValidationCode_VALID) {
			refusedAtAdmission++
		}
	}
	for txID, want := range chains[ref] {
		for _, p := range a.s.peers() {
			got, ok := chains[p.Name][txID]
			switch {
			case !ok:
				t.Errorf("transaction %s of %s: %s has it as %s in block %d, %s does not have it: the peers disagree", txID, name, ref, want.code, want.block, p.Name)
			case got != want:
				t.Errorf("transaction %s of %s: %s has it as %s in block %d, %s as %s in block %d: the peers disagree", txID, name, ref, want.code, want.block, p.Name, got.code, got.block)
			}
		}
		side := "before or in"
		if haveBlock && want.block > revBlock {
			side = "after"
			if want.code != foliov1.ValidationCode_BAD_CREATOR_IDENTITY {
				t.Errorf("transaction %s of revoked %s is %s in block %d, after the revocation in block %d; want BAD_CREATOR_IDENTITY", txID, name, want.code, want.block, revBlock)
			}
		}
		perBlock[fmt.Sprintf("%s %s", side, want.code)]++
		// By the clock, for the record: committed valid in a block cut
		// after the CA had revoked the identity.
		if bt := blockTime[want.block]; want.code == foliov1.ValidationCode_VALID && bt.After(revokedAt) {
			validAfterRevoke++
			lastValidAfter = max(lastValidAfter, bt.Sub(revokedAt))
		}
	}
	for _, p := range a.s.peers() {
		for txID := range chains[p.Name] {
			if _, ok := chains[ref][txID]; !ok {
				t.Errorf("transaction %s of %s is on %s's chain but not on %s's", txID, name, p.Name, ref)
			}
		}
	}
	if haveBlock {
		if code, ok := configAt[revBlock]; !ok || code != foliov1.ValidationCode_VALID {
			t.Errorf("block %d, named by revoke, holds no valid config transaction (configs by block: %v)", revBlock, configAt)
		}
	}
	t.Logf("observed: %d attempts by %s (%d refused before ordering), %d pre-endorsed submitted after the revocation (%d refused); on chain (relative to the revocation block %v): %v; "+
		"VALID in blocks cut after the CA revoked it: %d (the last %s after); config transactions by block: %v",
		len(attempts), name, refusedAtAdmission, len(pre), preRefused, map[bool]any{true: revBlock, false: "unknown"}[haveBlock], perBlock,
		validAfterRevoke, lastValidAfter.Round(time.Millisecond), configAt)

	var done []committedTx
	for _, at := range attempts {
		if at.err == nil {
			done = append(done, committedTx{at.txID, at.res.Block})
		}
	}
	a.finish(done...)
}

// 4. A rogue operator of Org1 mints an orderer-role certificate with
// Org1's CA key, signs a block N+1 with it (valid header chain, an
// endorsed registration never ordered), stops its peer peer1.org1 and,
// holding that peer's node key, serves the block on the deliver protocol
// at peer1.org1's address. Peers take blocks from other peers only after a
// full round of orderers failed to deliver (internal/deliver Client.Run),
// so the orderers are killed and restarted one after the other, each
// breaking the deliver streams of the peers that were following it, until
// the peers fall back to peers (peer0.org1's first fallback is
// peer1.org1). No peer may accept the block: it is not signed by an
// orderer of the channel. Heights and roots do not change; once the
// orderers are steady the network goes on as one.
func advForgedBlock(t *testing.T, a *adversary) {
	const rogue, victim = "peer1.org1", "peer0.org1"
	user := a.s.signing("user1@Org1")
	p := a.mustEndorse("peer0.org1", user, advWorkID("ADV4-NEVER-ORDERED"))
	env, err := p.Envelope(user)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := attack.MarshalEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	signer := a.mint(a.caOf("", "Org1"), "orderer9.org1", identity.RoleOrderer)

	height := quietHeight(t, a.s)
	last := a.s.block("peer0.org1", height-1)
	rootBefore := map[string][]byte{}
	for _, q := range a.s.peers() {
		rootBefore[q.Name] = a.s.block(q.Name, height-1).GetMetadata().GetStateRoot()
	}
	forged, err := attack.ForgeBlock(last.Header, [][]byte{raw}, signer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forgedHash, _ := types.HeaderHash(forged.Header)
	t.Logf("forged block %d (hash %x, signed by %s, carrying transaction %s) on top of block %d", forged.Header.Number, forgedHash[:8], signer.Label(), p.TxID(), height-1)

	// The rogue takes over peer1.org1's node identity and address.
	nd := a.s.node(rogue)
	self := a.s.peerIdentity(rogue)
	tlsDir := filepath.Join(a.s.dir, filepath.Dir(nd.Config), "tls")
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var orgs []identity.Org
	for _, o := range a.s.net.Orgs {
		orgs = append(orgs, identity.Org{Name: o.Name, MSPID: o.MSPID, Root: rootCert(t, filepath.Join(a.s.dir, o.RootCert))})
	}
	msp, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dial []p2p.PeerSpec
	var victims []string
	for _, q := range a.s.peers() {
		if q.Name != rogue {
			dial = append(dial, p2p.PeerSpec{NodeID: q.NodeID, Name: q.Name, Addr: q.P2P})
			victims = append(victims, q.Name)
		}
	}
	var orderers []string
	for _, o := range a.s.net.Nodes {
		if o.Role == "orderer" {
			orderers = append(orderers, o.Name)
		}
	}
	// Whatever happens, bring every node back for the next test and the
	// cleanup.
	restarted := false
	restart := func() {
		if !restarted {
			restarted = true
			if r, err := a.n.run("network", "up", "--detach"); err != nil {
				t.Errorf("network up after the forged-block attack: %v\n%s", err, r)
			}
		}
	}
	defer restart()

	a.n.must("network", "stop", rogue)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rd, err := attack.StartRogueDeliverer(ctx, attack.RogueOptions{Self: self, TLS: cert, Verifier: msp, ListenAddr: nd.P2P, Dial: dial,
		ChannelID: a.s.net.Channel, Blocks: []*foliov1.Block{forged}})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeRogue := func() {
		if !closed {
			closed = true
			if err := rd.Close(); err != nil {
				t.Errorf("stop the rogue deliverer: %v", err)
			}
		}
	}
	defer closeRogue()
	t.Logf("%s stopped; the rogue serves the forged block at its address %s", rogue, nd.P2P)

	servedTo := func() map[string]bool {
		m := map[string]bool{}
		for _, sv := range rd.Served() {
			if len(sv.Sent) > 0 {
				m[sv.Peer] = true
			}
		}
		return m
	}
	// reached: every peer was served the forged block by the rogue, or
	// holds a block past the previous tip (from a peer that accepted it).
	reached := func() bool {
		served := servedTo()
		for _, v := range victims {
			if h, err := a.tryHeight(v); !served[v] && (err != nil || h <= height) {
				return false
			}
		}
		return true
	}
	// Break the peers' orderer streams: SIGKILL one orderer at a time (the
	// others keep the Raft quorum), restart it, go on with the next.
	start := time.Now()
	var victimServed time.Time
	kills := 0
	for k := 0; time.Since(start) < 150*time.Second; k++ {
		if victimServed.IsZero() && servedTo()[victim] {
			victimServed = time.Now()
		}
		if reached() || (!victimServed.IsZero() && time.Since(victimServed) > 35*time.Second) {
			break
		}
		if !victimServed.IsZero() {
			// The victim fell back; the other peers follow honest peers
			// for up to their fallback window before asking the rogue.
			_ = retry(35*time.Second-time.Since(victimServed), func() error {
				if !reached() {
					return errors.New("not every peer reached")
				}
				return nil
			})
			break
		}
		o := orderers[k%len(orderers)]
		t0 := time.Now()
		killNode(t, o, a.n.peerPID(t, o))
		kills++
		// Start it again at once: its ports are free meanwhile, and
		// another program (another test's network) could take them.
		a.n.must("network", "start", o)
		t.Logf("killed %s and started it again in %s", o, time.Since(t0).Round(10*time.Millisecond))
		// The next kill keeps the Raft quorum only once this orderer is
		// back in the cluster.
		eventually(t, time.Minute, o+" back in the Raft cluster", func() error {
			var st struct {
				Nodes []struct {
					nodeStatus
					RaftRole string `json:"raft_role"`
				} `json:"nodes"`
			}
			a.n.json(&st, "network", "status")
			for _, nd := range st.Nodes {
				if nd.Name == o && nd.State == "up" && (nd.RaftRole == "leader" || nd.RaftRole == "follower") {
					return nil
				}
			}
			return errors.New("not up as a Raft leader or follower")
		})
	}
	served := servedTo()
	t.Logf("observed: after %d orderer kills in %s the rogue served the forged block to %v (deliver requests: %+v)", kills, time.Since(start).Round(time.Second), served, rd.Served())
	if len(served) == 0 {
		t.Fatalf("no peer asked the rogue %s for blocks within %s of orderer kills: the attack did not reach a peer (rogue's sessions: %+v)", rogue, time.Since(start).Round(time.Second), rd.Sessions())
	}
	// The forged block extended the chain when it was served: no honest
	// block was cut meanwhile (else it would be refused for not linking,
	// which proves nothing).
	for _, o := range orderers {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info, err := foliov1connect.NewChainServiceClient(client.HTTPClient(sdkIdentity(a.t, user), a.s.roots), "https://"+a.s.node(o).API).
			GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
		cancel()
		if err == nil && info.Msg.Height != height {
			t.Fatalf("%s is at height %d, not %d: an honest block was cut during the attack, so the forged block no longer links (inconclusive)", o, info.Msg.Height, height)
		}
	}
	// No peer accepted it: heights and roots unchanged.
	for _, v := range victims {
		h, err := a.tryHeight(v)
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if h > height {
			b, err := a.tryBlock(v, height)
			if err != nil {
				t.Errorf("%s: %v", v, err)
				continue
			}
			bh, _ := types.HeaderHash(b.Header)
			accepted := string(bh) == string(forgedHash)
			t.Errorf("%s accepted block %d from a peer (the forged one: %v; validation codes %v): height %d, was %d",
				v, height, accepted, b.GetMetadata().GetValidationCodes(), h, height)
			continue
		}
		if b, err := a.tryBlock(v, height-1); err == nil && string(b.GetMetadata().GetStateRoot()) != string(rootBefore[v]) {
			t.Errorf("%s's state root after block %d changed during the attack", v, height-1)
		}
	}

	closeRogue()
	restart()
	a.finish()
	// The block at the forged height is the orderers', on every peer.
	for _, q := range a.s.peers() {
		b := a.s.block(q.Name, height)
		if bh, _ := types.HeaderHash(b.Header); string(bh) == string(forgedHash) {
			t.Errorf("%s holds the forged block %d", q.Name, height)
		}
	}
	a.absentEverywhere("the never-ordered transaction of the forged block", p.TxID())
}
