package index

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contracts/copyright"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/types"
)

// testChain builds a channel's blocks as peers commit them: envelopes
// signed by real identities (endorsements, creators, orderer), headers
// hash-linked, validation codes in the metadata. With fast set it stamps
// placeholder signatures instead (the index never verifies them), for the
// benchmark's 100,000 transactions.
type testChain struct {
	t                          testing.TB
	user1, user2, peer1, peer2 *identity.SigningIdentity
	orderer                    *identity.SigningIdentity
	blocks                     []*foliov1.Block
	fast                       bool
	nonce                      uint64
	clock                      time.Time
}

func newTestChain(t testing.TB) *testChain {
	o1, o2, ord := identitytest.NewOrg(t, "Org1"), identitytest.NewOrg(t, "Org2"), identitytest.NewOrg(t, "OrdererOrg")
	return &testChain{t: t, user1: o1.Member(t, "user1", identity.RoleClient), user2: o2.Member(t, "user2", identity.RoleClient),
		peer1: o1.Member(t, "peer0.org1", identity.RolePeer), peer2: o2.Member(t, "peer0.org2", identity.RolePeer),
		orderer: ord.Member(t, "orderer0", identity.RoleOrderer), clock: time.Now().Add(-10 * time.Minute).Truncate(time.Second)}
}

func (c *testChain) sign(id *identity.SigningIdentity, domain string, msg []byte) []byte {
	if c.fast {
		return []byte{0x30, 0x01}
	}
	var sig []byte
	var err error
	switch domain {
	case "proposal":
		sig, err = id.Sign(types.DomainProposal, msg)
	case "envelope":
		sig, err = id.Sign(types.DomainEnvelope, msg)
	case "block":
		sig, err = id.Sign(types.DomainBlock, msg)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return sig
}

func (c *testChain) header(creator *identity.SigningIdentity, typ foliov1.TxType) *foliov1.TxHeader {
	c.nonce++
	nonce := make([]byte, types.MinNonceBytes)
	binary.BigEndian.PutUint64(nonce, c.nonce)
	cr := creator.Serialized()
	return &foliov1.TxHeader{Type: typ, ChannelId: "folio", TxId: types.TxID(nonce, cr), Creator: cr, Nonce: nonce, TimestampUnixNano: c.clock.UnixNano()}
}

func (c *testChain) envelope(creator *identity.SigningIdentity, p *foliov1.Payload) []byte {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		c.t.Fatal(err)
	}
	env, _ := proto.Marshal(&foliov1.Envelope{Payload: raw, Signature: c.sign(creator, "envelope", raw)})
	return env
}

// tx is an endorsed transaction of creator calling contract.fn(args) with
// the given read/write set, endorsed by both peers.
func (c *testChain) tx(creator *identity.SigningIdentity, contractName, fn string, args []string, rw ...*foliov1.NsReadWriteSet) (string, []byte) {
	h := c.header(creator, foliov1.TxType_TX_TYPE_ENDORSER)
	var bargs [][]byte
	for _, a := range args {
		bargs = append(bargs, []byte(a))
	}
	prop, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.Proposal{Header: h, Invocation: &foliov1.ContractInvocation{Contract: contractName, Function: fn, Args: bargs}})
	sum := sha256.Sum256(prop)
	resp, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.ProposalResponsePayload{ProposalHash: sum[:], Action: &foliov1.ContractAction{
		Contract: &foliov1.ContractRef{Name: contractName, Version: "1"}, Rwset: &foliov1.ReadWriteSet{NsRwsets: rw},
		Response: &foliov1.Response{Status: 200}}})
	var ends []*foliov1.Endorsement
	for _, e := range []*identity.SigningIdentity{c.peer1, c.peer2} {
		var sig []byte = []byte{1}
		if !c.fast {
			var err error
			if sig, err = e.Sign(types.DomainEndorsement, types.EndorsementMessage(resp, e.Serialized())); err != nil {
				c.t.Fatal(err)
			}
		}
		ends = append(ends, &foliov1.Endorsement{Endorser: e.Serialized(), Signature: sig})
	}
	p, err := types.AssembleTransaction(h, prop, resp, ends)
	if err != nil {
		c.t.Fatal(err)
	}
	return h.TxId, c.envelope(creator, p)
}

// configTx is a channel configuration transaction (as in a genesis block).
func (c *testChain) configTx() (string, []byte) {
	h := c.header(c.orderer, foliov1.TxType_TX_TYPE_CONFIG)
	data, _ := proto.Marshal(&foliov1.ChannelConfig{ChannelId: "folio", Batch: &foliov1.BatchConfig{MaxTxCount: 100}})
	return h.TxId, c.envelope(c.orderer, &foliov1.Payload{Header: h, Data: data})
}

// block cuts the next block of envs with their validation codes (nil: all
// valid), one second after the previous one.
func (c *testChain) block(codes []foliov1.ValidationCode, envs ...[]byte) *foliov1.Block {
	c.clock = c.clock.Add(time.Second)
	prev := types.GenesisPreviousHash()
	if n := len(c.blocks); n > 0 {
		prev, _ = types.HeaderHash(c.blocks[n-1].Header)
	}
	h := &foliov1.BlockHeader{Number: uint64(len(c.blocks)), PreviousHash: prev, DataHash: types.DataHash(envs), TimestampUnixNano: c.clock.UnixNano()}
	hdr, _ := types.HeaderBytes(h)
	vc := make([]byte, len(envs))
	for i := range codes {
		vc[i] = byte(codes[i])
	}
	root := sha256.Sum256(hdr)
	b := &foliov1.Block{Header: h, Data: &foliov1.BlockData{Envelopes: envs}, Metadata: &foliov1.BlockMetadata{
		Signatures: []*foliov1.OrdererSignature{{Signer: c.orderer.Serialized(), Signature: c.sign(c.orderer, "block", hdr)}}, ValidationCodes: vc, StateRoot: root[:]}}
	c.blocks = append(c.blocks, b)
	return b
}

func ck(t testing.TB, obj string, attrs ...string) string {
	k, err := contract.CreateCompositeKey(obj, attrs...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// work is a copyright record as the contract writes it.
type work struct{ id, title, author, owner, hash string }

func (c *testChain) record(w work, action, by string) []byte {
	r := copyright.Record{ID: w.id, Title: w.title, Author: w.author, Owner: w.owner, Type: "text", ContentHash: w.hash,
		RegisteredAt: "2026-01-02T03:04:05Z", RegisteredBy: by, Action: action, UpdatedBy: by, UpdatedAt: c.clock.Format(time.RFC3339Nano)}
	raw, _ := json.Marshal(r)
	return raw
}

func sortedWrites(ws ...*foliov1.KVWrite) []*foliov1.KVWrite {
	sort.Slice(ws, func(i, j int) bool { return ws[i].Key < ws[j].Key })
	return ws
}

// register is the copyright contract's register of w by creator: the
// record and its three index keys.
func (c *testChain) register(creator *identity.SigningIdentity, w work) (string, []byte) {
	key := ck(c.t, "work", w.id)
	rw := &foliov1.NsReadWriteSet{Namespace: "copyright", Reads: []*foliov1.KVRead{{Key: key}}, Writes: sortedWrites(
		&foliov1.KVWrite{Key: key, Value: c.record(w, copyright.ActionRegister, creator.Label())},
		&foliov1.KVWrite{Key: ck(c.t, "owner~id", w.owner, w.id), Value: []byte{0}},
		&foliov1.KVWrite{Key: ck(c.t, "author~id", w.author, w.id), Value: []byte{0}},
		&foliov1.KVWrite{Key: ck(c.t, "hash~id", w.hash, w.id), Value: []byte{0}})}
	arg, _ := json.Marshal(map[string]string{"id": w.id, "title": w.title, "author": w.author, "owner": w.owner, "content_hash": w.hash})
	return c.tx(creator, "copyright", "register", []string{string(arg)}, rw)
}

// transfer moves w (as read at version at) to a new owner.
func (c *testChain) transfer(creator *identity.SigningIdentity, w work, to string, at *foliov1.Version) (string, []byte) {
	key := ck(c.t, "work", w.id)
	from := w.owner
	w.owner = to
	rw := &foliov1.NsReadWriteSet{Namespace: "copyright", Reads: []*foliov1.KVRead{{Key: key, Version: at}}, Writes: sortedWrites(
		&foliov1.KVWrite{Key: key, Value: c.record(w, copyright.ActionTransfer, creator.Label())},
		&foliov1.KVWrite{Key: ck(c.t, "owner~id", from, w.id), IsDelete: true},
		&foliov1.KVWrite{Key: ck(c.t, "owner~id", to, w.id), Value: []byte{0}})}
	return c.tx(creator, "copyright", "transfer", []string{fmt.Sprintf(`{"id":%q,"to":%q}`, w.id, to)}, rw)
}

// remove deletes w's record (as an administrative contract version could).
func (c *testChain) remove(creator *identity.SigningIdentity, w work) (string, []byte) {
	rw := &foliov1.NsReadWriteSet{Namespace: "copyright", Writes: []*foliov1.KVWrite{{Key: ck(c.t, "work", w.id), IsDelete: true}}}
	return c.tx(creator, "copyright", "delete", []string{w.id}, rw)
}

// memSource serves a testChain's blocks like a peer's StreamBlocks with
// follow: every block from start on, then it waits for more (or ctx). It
// records every start asked and every block delivered.
type memSource struct {
	mu        sync.Mutex
	blocks    []*foliov1.Block
	more      chan struct{} // closed and replaced when blocks grow
	starts    []uint64
	delivered []uint64
	// failures makes the next calls fail at once, one per element.
	failures []error
	// onCall runs at the start of every call (before a failure).
	onCall func()
}

func newMemSource(blocks []*foliov1.Block) *memSource {
	return &memSource{blocks: slices.Clone(blocks), more: make(chan struct{})}
}

func (s *memSource) append(bs ...*foliov1.Block) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks = append(s.blocks, bs...)
	close(s.more)
	s.more = make(chan struct{})
}

func (s *memSource) Blocks(ctx context.Context, start uint64, each func(*foliov1.Block) error) error {
	s.mu.Lock()
	s.starts = append(s.starts, start)
	onCall := s.onCall
	var fail error
	if len(s.failures) > 0 {
		fail, s.failures = s.failures[0], s.failures[1:]
	}
	s.mu.Unlock()
	if onCall != nil {
		onCall()
	}
	if fail != nil {
		return fail
	}
	for n := start; ; {
		s.mu.Lock()
		var b *foliov1.Block
		if n < uint64(len(s.blocks)) {
			b = s.blocks[n]
			s.delivered = append(s.delivered, n)
		}
		more := s.more
		s.mu.Unlock()
		if b == nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-more:
				continue
			}
		}
		if err := each(b); err != nil {
			return err
		}
		n++
	}
}
