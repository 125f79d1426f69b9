package attack

// This file holds the forgeries of a hostile but enrolled party, for the
// adversarial end-to-end tests of "one truth on every peer" (DESIGN.md 6):
// an endorsed transaction with one endorsement corrupted or replaced, an
// identity minted with an organisation's CA key, a lifecycle transaction
// re-wrapped in a new envelope, a block signed by a freshly minted
// identity, and a rogue node that serves such a block to the peers over
// the node sessions' deliver protocol.
//
// Nothing here is simulated: every forgery is built from the same wire
// types, signature domains and canonical encodings the nodes use
// (internal/types), and the rogue node is a real p2p.Host. What the forger
// can do is bounded by the keys it is given: a client's or admin's wallet
// key, an organisation's CA key, a node's key.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/types"
)

var deterministic = proto.MarshalOptions{Deterministic: true}

// CA is an organisation's root CA as the holder of its key sees it: a
// rogue administrator can issue any certificate the organisation's MSP
// accepts.
type CA struct {
	Org   string
	MSPID string
	Cert  *x509.Certificate
	Key   crypto.Signer
}

// LoadCA reads a CA's root certificate and key from its home directory
// (ca-cert.pem, ca-key.pem: internal/identity/ca).
func LoadCA(home, org, mspID string) (*CA, error) {
	cert, err := fcrypto.ReadCertificate(filepath.Join(home, "ca-cert.pem"))
	if err != nil {
		return nil, fmt.Errorf("attack: CA of %s: %w", org, err)
	}
	key, err := fcrypto.ReadPrivateKey(filepath.Join(home, "ca-key.pem"))
	if err != nil {
		return nil, fmt.Errorf("attack: CA of %s: %w", org, err)
	}
	return &CA{Org: org, MSPID: mspID, Cert: cert, Key: key}, nil
}

// Mint issues a fresh signing identity (new P-256 key) named name with
// role, bypassing the CA service and its registry: no one registered or
// enrolled it, and no revocation list names it.
func (ca *CA) Mint(name string, role identity.Role) (*identity.SigningIdentity, error) {
	key, err := fcrypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	cert, err := identity.Issue(ca.Cert, ca.Key, identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public()})
	if err != nil {
		return nil, fmt.Errorf("attack: mint %s@%s: %w", name, ca.Org, err)
	}
	return identity.NewSigningIdentity(identity.Identity{MSPID: ca.MSPID, Org: ca.Org, Name: name, Role: role, Cert: cert}, key)
}

// Prepared is an endorsed transaction as a gateway's Endorse returns it
// (EndorseResponse.prepared_payload), opened for tampering.
type Prepared struct {
	Payload *foliov1.Payload
	Tx      *foliov1.Transaction
}

// ParsePrepared decodes a prepared payload.
func ParsePrepared(raw []byte) (*Prepared, error) {
	var p foliov1.Payload
	if err := proto.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("attack: prepared payload: %w", err)
	}
	if p.Header == nil || p.Header.Type != foliov1.TxType_TX_TYPE_ENDORSER {
		return nil, errors.New("attack: prepared payload is not an endorser transaction")
	}
	var tx foliov1.Transaction
	if err := proto.Unmarshal(p.Data, &tx); err != nil {
		return nil, fmt.Errorf("attack: prepared transaction: %w", err)
	}
	return &Prepared{Payload: &p, Tx: &tx}, nil
}

// TxID is the transaction's ID.
func (p *Prepared) TxID() string { return p.Payload.GetHeader().GetTxId() }

// Endorser describes one endorsement of a prepared transaction.
type Endorser struct {
	MSPID string
	// Name is the endorser certificate's common name.
	Name string
	// Role is the role in the certificate's OU ("" if it has none or
	// several).
	Role identity.Role
	// NodeID is the hex SHA-256 of the endorser's public key.
	NodeID string
}

// Endorsers lists who endorsed, in order.
func (p *Prepared) Endorsers() ([]Endorser, error) {
	out := make([]Endorser, 0, len(p.Tx.Endorsements))
	for i, e := range p.Tx.Endorsements {
		mspID, cert, err := identity.Deserialize(e.Endorser)
		if err != nil {
			return nil, fmt.Errorf("attack: endorsement %d: %w", i, err)
		}
		id, _ := fcrypto.KeyID(cert.PublicKey)
		var role identity.Role
		if ous := cert.Subject.OrganizationalUnit; len(ous) == 1 {
			role = identity.Role(ous[0])
		}
		out = append(out, Endorser{MSPID: mspID, Name: cert.Subject.CommonName, Role: role, NodeID: id})
	}
	return out, nil
}

// Find returns the index of the first endorsement whose endorser matches,
// or an error listing the endorsers.
func (p *Prepared) Find(match func(Endorser) bool) (int, error) {
	es, err := p.Endorsers()
	if err != nil {
		return 0, err
	}
	var names []string
	for i, e := range es {
		if match(e) {
			return i, nil
		}
		names = append(names, e.Name+"@"+e.MSPID)
	}
	return 0, fmt.Errorf("attack: no matching endorsement among %v", names)
}

// FindMSP finds the first endorsement by an identity of mspID.
func (p *Prepared) FindMSP(mspID string) (int, error) {
	return p.Find(func(e Endorser) bool { return e.MSPID == mspID })
}

// FindName finds the first endorsement by the certificate named name
// (e.g. "peer0.org1").
func (p *Prepared) FindName(name string) (int, error) {
	return p.Find(func(e Endorser) bool { return e.Name == name })
}

// CorruptSignature flips one bit of the last byte of endorsement i's
// signature (in the DER encoding that is the low byte of s), so the
// signature no longer verifies while the endorser stays the same.
func (p *Prepared) CorruptSignature(i int) error {
	if i < 0 || i >= len(p.Tx.Endorsements) {
		return fmt.Errorf("attack: no endorsement %d", i)
	}
	e := p.Tx.Endorsements[i]
	if len(e.Signature) == 0 {
		return fmt.Errorf("attack: endorsement %d has no signature", i)
	}
	e.Signature = FlipByte(e.Signature, len(e.Signature)-1)
	return nil
}

// Replace puts an endorsement by signer, over the same response payload,
// in place of endorsement i.
func (p *Prepared) Replace(i int, signer *identity.SigningIdentity) error {
	if i < 0 || i >= len(p.Tx.Endorsements) {
		return fmt.Errorf("attack: no endorsement %d", i)
	}
	e, err := Endorse(signer, p.Tx.ResponsePayload)
	if err != nil {
		return err
	}
	p.Tx.Endorsements[i] = e
	return nil
}

// Append adds an endorsement by signer over the same response payload.
func (p *Prepared) Append(signer *identity.SigningIdentity) error {
	e, err := Endorse(signer, p.Tx.ResponsePayload)
	if err != nil {
		return err
	}
	p.Tx.Endorsements = append(p.Tx.Endorsements, e)
	return nil
}

// Marshal encodes the (tampered) transaction back into payload bytes.
func (p *Prepared) Marshal() ([]byte, error) {
	data, err := deterministic.Marshal(p.Tx)
	if err != nil {
		return nil, err
	}
	p.Payload.Data = data
	return deterministic.Marshal(p.Payload)
}

// Envelope re-encodes the transaction and signs it as creator, the client
// whose proposal it carries (whose key must match the header's creator
// for the envelope to pass the orderers' check).
func (p *Prepared) Envelope(creator *identity.SigningIdentity) (*foliov1.Envelope, error) {
	raw, err := p.Marshal()
	if err != nil {
		return nil, err
	}
	return SignPayload(creator, raw)
}

// SignPayload signs serialized Payload bytes into an envelope as creator,
// exactly as a client does.
func SignPayload(creator *identity.SigningIdentity, payload []byte) (*foliov1.Envelope, error) {
	sig, err := creator.Sign(types.DomainEnvelope, payload)
	if err != nil {
		return nil, err
	}
	return &foliov1.Envelope{Payload: payload, Signature: sig}, nil
}

// Endorse signs responsePayload as an endorsement by signer, whatever its
// role: the signature is valid, only the signer's right to endorse is in
// question.
func Endorse(signer *identity.SigningIdentity, responsePayload []byte) (*foliov1.Endorsement, error) {
	id := signer.Serialized()
	sig, err := signer.Sign(types.DomainEndorsement, types.EndorsementMessage(responsePayload, id))
	if err != nil {
		return nil, err
	}
	return &foliov1.Endorsement{Endorser: slices.Clone(id), Signature: sig}, nil
}

// FlipByte returns a copy of b with the lowest bit of byte i flipped.
func FlipByte(b []byte, i int) []byte {
	out := slices.Clone(b)
	out[i] ^= 0x01
	return out
}

// LifecycleData returns the data of a lifecycle envelope: the serialized
// LifecycleTx (request and approvals), exactly as signed.
func LifecycleData(env *foliov1.Envelope) ([]byte, error) {
	var p foliov1.Payload
	if err := proto.Unmarshal(env.GetPayload(), &p); err != nil {
		return nil, fmt.Errorf("attack: lifecycle envelope: %w", err)
	}
	if p.Header.GetType() != foliov1.TxType_TX_TYPE_LIFECYCLE {
		return nil, fmt.Errorf("attack: envelope is a %v transaction, not a lifecycle one", p.Header.GetType())
	}
	return p.Data, nil
}

// RewrapLifecycle puts the exact bytes of a LifecycleTx (another
// transaction's request and approvals) in a new envelope of channel,
// with a fresh header, signed by creator alone. It returns the envelope
// and its tx ID.
func RewrapLifecycle(creator *identity.SigningIdentity, channel string, data []byte) (*foliov1.Envelope, string, error) {
	nonce := make([]byte, types.MinNonceBytes)
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", err
	}
	h := &foliov1.TxHeader{Type: foliov1.TxType_TX_TYPE_LIFECYCLE, ChannelId: channel, Creator: creator.Serialized(), Nonce: nonce,
		TimestampUnixNano: time.Now().UnixNano()}
	h.TxId = types.TxID(nonce, h.Creator)
	raw, err := deterministic.Marshal(&foliov1.Payload{Header: h, Data: data})
	if err != nil {
		return nil, "", err
	}
	env, err := SignPayload(creator, raw)
	if err != nil {
		return nil, "", err
	}
	return env, h.TxId, nil
}

// ForgeBlock builds the block after prev holding envelopes, with a valid
// header chain (number prev+1, previous hash the hash of prev's header,
// data hash the Merkle root of envelopes, timestamp at, never before
// prev's), signed over the canonical header by signer: a well-formed
// block that only its signer's right to sign blocks can refuse.
func ForgeBlock(prev *foliov1.BlockHeader, envelopes [][]byte, signer *identity.SigningIdentity, at time.Time) (*foliov1.Block, error) {
	prevHash, err := types.HeaderHash(prev)
	if err != nil {
		return nil, fmt.Errorf("attack: previous block: %w", err)
	}
	ts := max(at.UnixNano(), prev.TimestampUnixNano)
	h := &foliov1.BlockHeader{Number: prev.Number + 1, PreviousHash: prevHash, DataHash: types.DataHash(envelopes), TimestampUnixNano: ts}
	hdr, err := types.HeaderBytes(h)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(types.DomainBlock, hdr)
	if err != nil {
		return nil, err
	}
	return &foliov1.Block{Header: h, Data: &foliov1.BlockData{Envelopes: envelopes},
		Metadata: &foliov1.BlockMetadata{Signatures: []*foliov1.OrdererSignature{{Signer: slices.Clone(signer.Serialized()), Signature: sig}}}}, nil
}

// MarshalEnvelope encodes an envelope as blocks carry it.
func MarshalEnvelope(env *foliov1.Envelope) ([]byte, error) { return deterministic.Marshal(env) }

// DeliverProtocol is the session protocol peers and orderers stream blocks
// on (internal/deliver.Protocol).
const DeliverProtocol = "deliver"

// RogueOptions configure a rogue deliverer.
type RogueOptions struct {
	// Self and TLS are the node identity the rogue presents: a real node's
	// keys (a rogue operator's), or identities minted with its
	// organisation's CA key.
	Self *identity.SigningIdentity
	TLS  tls.Certificate
	// Verifier is the consortium MSP the rogue admits sessions with.
	Verifier *identity.Verifier
	// ListenAddr is where it accepts sessions (the impersonated node's p2p
	// address, so the other nodes dial it).
	ListenAddr string
	// Dial are the nodes it dials itself, so they need not wait for their
	// redial backoff.
	Dial []p2p.PeerSpec
	// ChannelID is the channel whose deliver requests it answers.
	ChannelID string
	// Blocks are served to any deliver request: from the requested start,
	// every block numbered start, start+1, ... that it holds.
	Blocks []*foliov1.Block
	Logger *slog.Logger
}

// Served is one deliver request the rogue answered.
type Served struct {
	// Peer is the node that asked.
	Peer string
	// Start is the block it asked to start from.
	Start uint64
	// Sent are the numbers of the blocks written to it.
	Sent []uint64
	At   time.Time
}

// RogueDeliverer is a node that serves forged blocks on the deliver
// protocol to whoever opens a stream to it.
type RogueDeliverer struct {
	host   *p2p.Host
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	served []Served
}

// StartRogueDeliverer starts a p2p host with o's identity, listening on
// o.ListenAddr, that answers every deliver request with the blocks of
// o.Blocks from the requested start on (none if it holds no block of that
// number) and then holds the stream open until the other side closes it.
// Close stops it.
func StartRogueDeliverer(ctx context.Context, o RogueOptions) (*RogueDeliverer, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h, err := p2p.New(p2p.Options{Self: o.Self, TLS: o.TLS, Verifier: o.Verifier, ListenAddr: o.ListenAddr, Logger: log,
		MaxFrameBytes: 64 << 20, SessionMessageBytes: 256 << 20})
	if err != nil {
		return nil, fmt.Errorf("attack: rogue host: %w", err)
	}
	byNum := map[uint64]*foliov1.Block{}
	for _, b := range o.Blocks {
		byNum[b.GetHeader().GetNumber()] = b
	}
	r := &RogueDeliverer{host: h, done: make(chan error, 1)}
	err = h.Handle(DeliverProtocol, func(ctx context.Context, s *p2p.Stream) {
		defer s.Close()
		data, err := s.ReadMsg()
		if err != nil {
			return
		}
		var req foliov1.DeliverRequest
		if err := proto.Unmarshal(data, &req); err != nil || req.ChannelId != o.ChannelID {
			return
		}
		sv := Served{Peer: s.Peer().Name, Start: req.Start, At: time.Now()}
		for n := req.Start; ; n++ {
			b := byNum[n]
			if b == nil {
				break
			}
			raw, err := proto.Marshal(b)
			if err != nil || s.WriteMsg(raw) != nil {
				break
			}
			sv.Sent = append(sv.Sent, n)
		}
		r.mu.Lock()
		r.served = append(r.served, sv)
		r.mu.Unlock()
		// Hold the stream like a source with nothing newer would, until
		// the other side gives up on it (or the rogue stops).
		_ = s.SetReadDeadline(time.Time{})
		for {
			if _, err := s.ReadMsg(); err != nil {
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for _, p := range o.Dial {
		if err := h.AddPeer(p); err != nil {
			return nil, fmt.Errorf("attack: rogue host: %w", err)
		}
	}
	ctx, r.cancel = context.WithCancel(ctx)
	go func() { r.done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case <-time.After(30 * time.Second):
		r.cancel()
		return nil, errors.New("attack: rogue host not ready after 30s")
	}
	if h.Addr() == nil && o.ListenAddr != "" {
		r.cancel()
		return nil, fmt.Errorf("attack: rogue host did not listen on %s: %v", o.ListenAddr, <-r.done)
	}
	return r, nil
}

// Served returns the deliver requests answered so far.
func (r *RogueDeliverer) Served() []Served {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.served)
}

// Sessions lists the rogue's sessions (who connected to it).
func (r *RogueDeliverer) Sessions() []p2p.SessionInfo { return r.host.Sessions() }

// Close stops the rogue host and waits until its listener and sessions
// are closed (at most about its leave timeout).
func (r *RogueDeliverer) Close() error {
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("attack: rogue host did not stop within 30s")
	}
}
