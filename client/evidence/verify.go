package evidence

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/policy"
	"github.com/folio-ledger/folio/internal/types"
	"github.com/folio-ledger/folio/internal/validate"
)

// ErrInvalid is returned when any check fails.
var ErrInvalid = errors.New("evidence does not verify")

// Check is one verified statement, or the reason it failed.
type Check struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report lists every check of a bundle and what it proves.
type Report struct {
	Valid     bool   `json:"valid"`
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	// ReadableKey is Key as people name it ("work BOOK-1").
	ReadableKey string `json:"readable_key"`
	// Value is the proven value (hex when it is not UTF-8).
	Value     string          `json:"value"`
	Record    json.RawMessage `json:"record,omitempty"`
	Block     uint64          `json:"block"`
	StateRoot string          `json:"state_root"`
	Checks    []Check         `json:"checks"`
}

func (r *Report) pass(name, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) fail(name, format string, args ...any) error {
	r.Checks = append(r.Checks, Check{Name: name, OK: false, Detail: fmt.Sprintf(format, args...)})
	return fmt.Errorf("%w: %s: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
}

// Root is one organisation's root CA certificate. RootsFromGenesis reads
// them from a channel's genesis block; a court may equally be handed the
// PEM files.
type Root struct {
	// MSPID names the organisation in signed messages, e.g. "Org1MSP".
	MSPID string
	// Cert is the organisation's root CA certificate.
	Cert *x509.Certificate
}

// Anchor is what the verifier trusts; everything else is proven from it.
type Anchor struct {
	// Genesis is the network's genesis block as it was distributed (the
	// network directory's genesis.block; ParseGenesis reads it): the
	// organisations, orderers, policies and contract definitions at block
	// 0. The bundle's genesis must be this block.
	Genesis *foliov1.Block
	// Roots is the simple case, used when Genesis is nil: the bundle's own
	// genesis block is accepted when its organisations and their root
	// certificates are exactly these. It trusts less than a pinned genesis
	// does: whoever holds an admin key of these organisations could have
	// written another genesis with the same roots (other orderers, other
	// policies).
	Roots []Root
}

// ParseGenesis reads a genesis block file (the serialized block, as
// `folio network up` writes genesis.block) and checks it is one.
func ParseGenesis(data []byte) (*foliov1.Block, error) {
	var b foliov1.Block
	if err := proto.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("not a serialized block: %w", err)
	}
	if _, err := channel.FromGenesis(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// RootsFromGenesis returns the root certificates of every organisation in
// a channel's genesis block (block 0, as `folio block get 0` prints it).
// The block is checked for well-formedness only: whoever hands it over is
// trusted for it, as with any pinned trust anchor.
func RootsFromGenesis(genesis *foliov1.Block) ([]Root, error) {
	cfg, err := channel.FromGenesis(genesis)
	if err != nil {
		return nil, err
	}
	orgs, err := channel.MSPOrgs(cfg)
	if err != nil {
		return nil, err
	}
	out := make([]Root, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, Root{MSPID: o.MSPID, Cert: o.Root})
	}
	return out, nil
}

// Verify checks a bundle against anchor. Everything a check needs comes
// from the chain the bundle proves, never from the bundle's word: the
// organisations, orderers and capability level in force at each block
// (the genesis configuration and every config update, applied with the
// chain's own rules), the contract's endorsement policy in force at each
// change (its definitions proven against the state root), each change's
// outcome (the block's validation codes, attested by peers of every
// organisation, and the transaction re-evaluated offline with the
// validator's own stateless checks), and the completeness of the history
// (each change read the version the previous one wrote). Identities are
// judged as the chain judges them: by the configuration's roots and
// on-chain revocation lists, with no clock, so old evidence stays
// verifiable after certificates expire.
// It returns the report and, if any check failed, an error wrapping ErrInvalid.
func Verify(data []byte, anchor Anchor) (*Report, error) {
	r := &Report{}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		if strings.Contains(err.Error(), "unknown field") && bytes.Contains(data, []byte(`"folio-evidence/1"`)) {
			return r, r.fail("format", "format folio-evidence/1 proves no validation outcomes, policies or orderer sets: write the bundle again with 'folio work prove'")
		}
		return r, r.fail("format", "not a Folio evidence bundle: %v", err)
	}
	if dec.More() {
		return r, r.fail("format", "data follows the bundle")
	}
	if b.Format != Format {
		return r, r.fail("format", "format %q, this verifier reads %q", b.Format, Format)
	}
	if err := canonical(&b, data); err != nil {
		return r, r.fail("format", "%v", err)
	}
	r.pass("format", "%s, canonical content", Format)
	ns, key, value, root, err := b.scalars()
	if err != nil {
		return r, r.fail("encoding", "%v", err)
	}
	r.Namespace, r.Key, r.Block, r.StateRoot, r.Record = string(ns), string(key), b.BlockNumber, b.StateRoot, b.Record
	r.ReadableKey = ReadableKey(string(key))
	r.Value = string(value)
	if !utf8.Valid(value) {
		r.Value = hex.EncodeToString(value)
	}

	cv, err := r.anchor(&b, anchor)
	if err != nil {
		return r, err
	}
	cv.ns = string(ns)
	// 1. The value is in the state trie under the state root.
	if err := r.verifyTrie(&b, ns, key, value, root); err != nil {
		return r, err
	}
	// 2. The configuration in force at every block, from genesis on.
	if err := r.verifyConfig(&b, cv, root); err != nil {
		return r, err
	}
	// 3. The state root is that of a block the channel's orderers signed,
	// attested by peers of every organisation.
	hdr, err := b.BlockHeader.decode()
	if err != nil || hdr.Number != b.BlockNumber {
		return r, r.fail("block", "block header of block %d is malformed or numbered %d", b.BlockNumber, hdr.GetNumber())
	}
	blockHash, err := types.HeaderHash(hdr)
	if err != nil {
		return r, r.fail("block", "%v", err)
	}
	cfg := cv.at(b.BlockNumber)
	signers, err := r.verifyOrdererSignatures("block", hdr, b.OrdererSignatures, cfg)
	if err != nil {
		return r, err
	}
	r.pass("block", "block %d header signed by %s, an orderer of channel %s at that block", hdr.Number, strings.Join(signers, ", "), cv.channel)
	who, err := r.verifyAttestations("attestations", b.Attestations, cv.channel, b.BlockNumber, blockHash, cfg, func(st *foliov1.StateAttestation) error {
		if !bytes.Equal(st.StateRoot, root[:]) {
			return fmt.Errorf("attests state root %x", st.StateRoot)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	r.pass("attestations", "state root %s after block %d attested by %s", b.StateRoot, b.BlockNumber, strings.Join(who, ", "))
	// 4. The contract's endorsement policies, from the chain.
	if err := r.verifyDefinitions(&b, cv, root); err != nil {
		return r, err
	}
	// 5. Every valid change of the key, and nothing but them.
	if err := r.verifyHistory(&b, cv, ns, key, value); err != nil {
		return r, err
	}
	r.Valid = true
	return r, nil
}

// canonical checks that data is the bundle's canonical encoding up to
// whitespace between tokens: a re-indented file verifies, while any other
// change (a value, a key's order or spelling, an escape, a duplicate key)
// is refused, so what a person reads in the file is what was verified.
func canonical(b *Bundle, data []byte) error {
	canon, err := b.Encode()
	if err != nil {
		return err
	}
	var got, want bytes.Buffer
	if err := json.Compact(&got, data); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := json.Compact(&want, canon); err != nil {
		return err
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		return errors.New("the file is not in canonical form: apart from whitespace, something was changed, reordered, re-spelled or duplicated")
	}
	return nil
}

// ReadableKey shows a state key as people name it: a composite key
// ("\x00work\x00BOOK-1\x00") as its type and attributes ("work BOOK-1").
func ReadableKey(k string) string {
	if typ, attrs, err := contract.SplitCompositeKey(k); err == nil && strings.HasPrefix(k, "\x00") {
		return strings.Join(append([]string{typ}, attrs...), " ")
	}
	return k
}

// chain is what the verifier derives from the anchor and the bundle's
// proofs: the channel, its configurations in block order, and the
// contract's definitions.
type chain struct {
	channel string
	genesis *channel.Config
	// configs[i] is in force from configs[i].FromBlock() on; configs[0] is
	// the genesis configuration.
	configs []*channel.Config
	ns      string
	defs    []*lifecycle.Definition
}

// at returns the configuration in force for block h.
func (c *chain) at(h uint64) *channel.Config {
	cur := c.configs[0]
	for _, cfg := range c.configs[1:] {
		if cfg.FromBlock() <= h {
			cur = cfg
		}
	}
	return cur
}

// EndorsementRule answers the validator's question from the proven
// definitions (validate.Contracts).
func (c *chain) EndorsementRule(name string, block uint64) (*policy.Policy, string, error) {
	if name != c.ns {
		return nil, "", fmt.Errorf("contract %q: the bundle proves the definitions of %q only", name, c.ns)
	}
	d := lifecycle.EffectiveIn(c.defs, block)
	if d == nil {
		return nil, "", fmt.Errorf("contract %q has no version effective at block %d", name, block)
	}
	return d.Policy, d.Version, nil
}

// anchor establishes the genesis configuration from the anchor.
func (r *Report) anchor(b *Bundle, a Anchor) (*chain, error) {
	raw, err := unhex(b.Genesis)
	if err != nil {
		return nil, r.fail("trust", "genesis: %v", err)
	}
	var g foliov1.Block
	if err := proto.Unmarshal(raw, &g); err != nil {
		return nil, r.fail("trust", "the bundle's genesis block does not decode: %v", err)
	}
	if err := types.ValidateBlock(&g); err != nil {
		return nil, r.fail("trust", "the bundle's genesis block: %v", err)
	}
	gcfg, err := channel.FromGenesis(&g)
	if err != nil {
		return nil, r.fail("trust", "the bundle's genesis block: %v", err)
	}
	gh, _ := types.HeaderHash(g.Header)
	switch {
	case a.Genesis != nil:
		want, err := types.HeaderHash(a.Genesis.GetHeader())
		if err != nil {
			return nil, r.fail("trust", "the pinned genesis block: %v", err)
		}
		if !bytes.Equal(gh, want) {
			return nil, r.fail("trust", "the bundle is for the chain with genesis %x, not the pinned genesis %x", gh, want)
		}
		r.pass("trust", "genesis block %x of channel %s, as pinned", gh, gcfg.ChannelId)
	case len(a.Roots) > 0:
		if err := sameRoots(gcfg, a.Roots); err != nil {
			return nil, r.fail("trust", "the bundle's genesis block is not one of the organisations given: %v", err)
		}
		r.pass("trust", "genesis block %x of channel %s, whose organisations' roots are exactly the %d given (pin the genesis block itself with --genesis to also fix its orderers and policies)",
			gh, gcfg.ChannelId, len(a.Roots))
	default:
		return nil, r.fail("trust", "no trust anchor: give the network's genesis block or its organisations' root certificates")
	}
	cfg0, err := channel.NewConfig(gcfg, 1)
	if err != nil {
		return nil, r.fail("trust", "genesis configuration: %v", err)
	}
	if b.Channel != gcfg.ChannelId {
		return nil, r.fail("trust", "the bundle says channel %q, its genesis block is channel %q's", b.Channel, gcfg.ChannelId)
	}
	return &chain{channel: gcfg.ChannelId, genesis: cfg0, configs: []*channel.Config{cfg0}}, nil
}

// sameRoots checks that the genesis configuration's organisations are
// exactly roots: the same MSP IDs with the same root certificates.
func sameRoots(cfg *foliov1.ChannelConfig, roots []Root) error {
	orgs, err := channel.MSPOrgs(cfg)
	if err != nil {
		return err
	}
	given := map[string]*x509.Certificate{}
	for _, rt := range roots {
		if rt.MSPID == "" || rt.Cert == nil {
			return errors.New("a root needs an MSP ID and a certificate")
		}
		if given[rt.MSPID] != nil {
			return fmt.Errorf("%s is given twice", rt.MSPID)
		}
		given[rt.MSPID] = rt.Cert
	}
	if len(given) != len(orgs) {
		return fmt.Errorf("it has %d organisations, %d roots were given", len(orgs), len(given))
	}
	for _, o := range orgs {
		c, ok := given[o.MSPID]
		if !ok {
			return fmt.Errorf("organisation %s has no root given", o.MSPID)
		}
		if !c.Equal(o.Root) {
			return fmt.Errorf("organisation %s has another root certificate", o.MSPID)
		}
	}
	return nil
}

func (b *Bundle) scalars() (ns, key, value []byte, root [32]byte, err error) {
	if ns, err = unhex(b.Namespace); err != nil {
		return nil, nil, nil, root, fmt.Errorf("namespace: %w", err)
	}
	if key, err = unhex(b.Key); err != nil {
		return nil, nil, nil, root, fmt.Errorf("key: %w", err)
	}
	if value, err = unhex(b.Value); err != nil {
		return nil, nil, nil, root, fmt.Errorf("value: %w", err)
	}
	if root, err = hash32(b.StateRoot); err != nil {
		return nil, nil, nil, root, fmt.Errorf("state_root: %w", err)
	}
	return ns, key, value, root, nil
}

func (r *Report) verifyTrie(b *Bundle, ns, key, value []byte, root [32]byte) error {
	acctProof, err := unhexAll(b.AccountProof)
	if err != nil {
		return r.fail("trie", "account_proof: %v", err)
	}
	storProof, err := unhexAll(b.StorageProof)
	if err != nil {
		return r.fail("trie", "storage_proof: %v", err)
	}
	want, err := b.Account.decode()
	if err != nil {
		return r.fail("trie", "account: %v", err)
	}
	acct, err := proof.VerifyAccount(root, ns, acctProof)
	if err != nil || acct == nil {
		return r.fail("trie", "account proof of namespace %q does not verify against state root %s: %v", ns, b.StateRoot, err)
	}
	ea, _ := acct.Encode()
	eb, _ := want.Encode()
	if !bytes.Equal(ea, eb) {
		return r.fail("trie", "the account record proven differs from the bundle's account")
	}
	got, err := proof.VerifyStorage(root, ns, acctProof, key, storProof)
	if err != nil {
		return r.fail("trie", "storage proof of key %q does not verify: %v", key, err)
	}
	if !bytes.Equal(got, value) {
		return r.fail("trie", "the value proven differs from the bundle's value")
	}
	if len(b.Record) > 0 {
		var v, rec bytes.Buffer
		if json.Compact(&v, value) != nil || json.Compact(&rec, b.Record) != nil || !bytes.Equal(v.Bytes(), rec.Bytes()) {
			return r.fail("record", "the readable record differs from the proven value")
		}
	}
	r.pass("trie", "value of %s %s proven in the Ethereum secure-trie layout against state root %s (account nonce %d, storage root %s)",
		ns, ReadableKey(string(key)), b.StateRoot, want.Nonce, b.Account.StorageRoot)
	return nil
}

// verifyOrdererSignatures checks the block's orderer signatures as block
// delivery does (deliver.OrdererSigners with the configuration in force at
// the block): at least one valid signature by an identity whose block
// signatures count, from capability level 2 on an orderer the channel
// lists, so a certificate with the orderer role minted by any other
// organisation's CA does not count. It returns the signers.
func (r *Report) verifyOrdererSignatures(what string, hdr *foliov1.BlockHeader, sigs []Signature, cfg *channel.Config) ([]string, error) {
	blk := &foliov1.Block{Header: hdr, Metadata: &foliov1.BlockMetadata{}}
	for i, s := range sigs {
		signer, e1 := unhex(s.Signer)
		sig, e2 := unhex(s.Signature)
		if e1 != nil || e2 != nil {
			return nil, r.fail(what, "orderer signature %d of block %d is not lowercase hex", i, hdr.Number)
		}
		blk.Metadata.Signatures = append(blk.Metadata.Signatures, &foliov1.OrdererSignature{Signer: signer, Signature: sig})
	}
	signers, refused := deliver.OrdererSigners(cfg.MSP(), cfg.CheckBlockSigner, blk)
	if len(signers) == 0 {
		return nil, r.fail(what, "block %d carries no valid signature of an orderer of the channel (%s)", hdr.Number, strings.Join(refused, "; "))
	}
	return signers, nil
}

// peerOrgs are the MSP IDs of the organisations that run peers of the
// channel under cfg: each must attest.
func peerOrgs(cfg *channel.Config) []string {
	mspOf := map[string]string{}
	for _, o := range cfg.Proto().Orgs {
		mspOf[o.Name] = o.MspId
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range cfg.Proto().Peers {
		if m := mspOf[p.Org]; m != "" && !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		for _, o := range cfg.Proto().Orgs {
			if o.Kind != foliov1.OrgKind_ORG_KIND_ORDERER {
				out = append(out, o.MspId)
			}
		}
	}
	sort.Strings(out)
	return out
}

// verifyAttestations checks attestations of block num (hash blockHash) of
// the channel: each by a peer of the channel under cfg, signed, about this
// block, and passing check; together covering every organisation that runs
// peers. It returns the attesters.
func (r *Report) verifyAttestations(what string, atts []Attestation, channelID string, num uint64, blockHash []byte, cfg *channel.Config,
	check func(*foliov1.StateAttestation) error) ([]string, error) {
	covered := map[string]bool{}
	var who []string
	for i, a := range atts {
		raw, e1 := unhex(a.Attestation)
		signer, e2 := unhex(a.Signer)
		sig, e3 := unhex(a.Signature)
		if e1 != nil || e2 != nil || e3 != nil {
			return nil, r.fail(what, "attestation %d of block %d is not lowercase hex", i, num)
		}
		var st foliov1.StateAttestation
		if err := proto.Unmarshal(raw, &st); err != nil {
			return nil, r.fail(what, "attestation %d of block %d does not decode", i, num)
		}
		id, err := cfg.MSP().ValidateSerialized(signer)
		if err == nil && id.Role != identity.RolePeer {
			err = fmt.Errorf("%s is a %s, not a peer", id.Label(), id.Role)
		}
		if err == nil {
			err = cfg.CheckEndorser(id)
		}
		if err != nil {
			return nil, r.fail(what, "attestation %d of block %d is not by a peer of the channel: %v", i, num, err)
		}
		if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainAttestation, raw, sig); err != nil {
			return nil, r.fail(what, "attestation of block %d by %s: %v", num, id.Label(), err)
		}
		if st.ChannelId != channelID || st.BlockNumber != num || !bytes.Equal(st.BlockHash, blockHash) {
			return nil, r.fail(what, "%s attests another block (channel %q, block %d, hash %x), not block %d %x of channel %s",
				id.Label(), st.ChannelId, st.BlockNumber, st.BlockHash, num, blockHash, channelID)
		}
		if err := check(&st); err != nil {
			return nil, r.fail(what, "%s on block %d: %v", id.Label(), num, err)
		}
		covered[id.MSPID] = true
		who = append(who, id.Label())
	}
	for _, m := range peerOrgs(cfg) {
		if !covered[m] {
			return nil, r.fail(what, "no peer of %s attests block %d", m, num)
		}
	}
	return who, nil
}

// verifyStateProof proves p's key (namespace ns, key key) against the
// bundle's state root and returns its value, nil when absent.
func (r *Report) verifyStateProof(what string, p StateProof, ns, key string, root [32]byte) ([]byte, error) {
	pns, e1 := unhex(p.Namespace)
	pkey, e2 := unhex(p.Key)
	val, e3 := unhex(p.Value)
	ap, e4 := unhexAll(p.AccountProof)
	sp, e5 := unhexAll(p.StorageProof)
	if err := errors.Join(e1, e2, e3, e4, e5); err != nil {
		return nil, r.fail(what, "%v", err)
	}
	if string(pns) != ns || string(pkey) != key {
		return nil, r.fail(what, "proves %q/%q, not %q/%q", pns, pkey, ns, key)
	}
	got, err := proof.VerifyStorage(root, pns, ap, pkey, sp)
	if err != nil {
		return nil, r.fail(what, "proof of %s/%s does not verify against the state root: %v", ns, key, err)
	}
	if !bytes.Equal(got, val) {
		return nil, r.fail(what, "the value proven for %s/%s differs from the bundle's", ns, key)
	}
	return got, nil
}

// verifyConfig applies every config update since genesis with the chain's
// rules (channel.Config.Apply: sequence, admin policy, approvals) and
// proves the list complete: the last update is the one recorded in state
// at the proven block. A dropped update (say, a revocation) breaks the
// sequence or that equality.
func (r *Report) verifyConfig(b *Bundle, cv *chain, root [32]byte) error {
	var prev *Version
	for i, t := range b.ConfigUpdates {
		name := fmt.Sprintf("config[%d]", i)
		if t.BlockNumber > b.BlockNumber {
			return r.fail(name, "config update in block %d, after the proven block %d", t.BlockNumber, b.BlockNumber)
		}
		v := Version{Block: t.BlockNumber, Tx: uint64(t.TxIndex)}
		if prev != nil && !after(v, *prev) {
			return r.fail(name, "config updates are not in commit order")
		}
		prev = &v
		vt, hdr, err := r.verifyTx(name, t, cv)
		if err != nil {
			return err
		}
		data := vt.ConfigUpdate()
		if data == nil {
			return r.fail(name, "transaction %s is not a config update", t.TxID)
		}
		cur := cv.configs[len(cv.configs)-1]
		next, err := cur.Apply(vt.Creator, data, hdr.Number)
		if err != nil {
			return r.fail(name, "config update %s: the chain's rules refuse it: %v", t.TxID, err)
		}
		cv.configs = append(cv.configs, next)
		r.pass(name, "config update %s to sequence %d by %s in block %d, in force from block %d", t.TxID, next.Sequence(), vt.Creator.Label(), hdr.Number, next.FromBlock())
	}
	inForce, err := r.verifyStateProof("config", b.ConfigState, channel.Namespace, channel.UpdateKey, root)
	if err != nil {
		return err
	}
	last := cv.configs[len(cv.configs)-1]
	if !bytes.Equal(inForce, last.Update()) {
		return r.fail("config", "the bundle's config updates end at sequence %d, but another update is in force at block %d: updates are missing", last.Sequence(), b.BlockNumber)
	}
	r.pass("config", "%d config update(s) since genesis, complete: sequence %d is in force at block %d", len(b.ConfigUpdates), last.Sequence(), b.BlockNumber)
	return nil
}

// verifyDefinitions proves the contract's definitions at the proven block.
// The record lists every version that took effect (lifecycle keeps them),
// so the policy in force at any earlier block is read from it.
func (r *Report) verifyDefinitions(b *Bundle, cv *chain, root [32]byte) error {
	val, err := r.verifyStateProof("definitions", b.Definitions, lifecycle.Namespace, lifecycle.DefinitionsKey(cv.ns), root)
	if err != nil {
		return err
	}
	if val == nil {
		d, err := lifecycle.GenesisDefinition(cv.genesis.Proto(), cv.ns)
		if err != nil || d == nil {
			return r.fail("definitions", "contract %q is neither activated on chain nor defined in the genesis block (%v)", cv.ns, err)
		}
		cv.defs = []*lifecycle.Definition{d}
	} else if cv.defs, err = lifecycle.ParseDefinitions(val); err != nil {
		return r.fail("definitions", "%v", err)
	}
	var vs []string
	for _, d := range cv.defs {
		vs = append(vs, fmt.Sprintf("version %s from block %d under %s", d.Version, d.FromBlock, d.PolicySrc))
	}
	r.pass("definitions", "contract %s: %s", cv.ns, strings.Join(vs, "; "))
	return nil
}

// verifyTx checks one transaction proof: its inclusion in its block, the
// block's orderer signatures and its attested validation codes under the
// configuration in force at that block, a VALID outcome, and the
// validator's stateless checks re-run offline (creator, endorsements,
// endorsement policy and contract version in force).
func (r *Report) verifyTx(name string, t TxProof, cv *chain) (*validate.Tx, *foliov1.BlockHeader, error) {
	env, err := unhex(t.Envelope)
	if err != nil {
		return nil, nil, r.fail(name, "envelope: %v", err)
	}
	path, err := unhexAll(t.InclusionPath)
	if err != nil {
		return nil, nil, r.fail(name, "inclusion path: %v", err)
	}
	codes, err := unhex(t.ValidationCodes)
	if err != nil {
		return nil, nil, r.fail(name, "validation codes: %v", err)
	}
	hdr, err := t.BlockHeader.decode()
	if err != nil || hdr.Number != t.BlockNumber || t.BlockNumber == 0 {
		return nil, nil, r.fail(name, "block header malformed")
	}
	if !types.VerifyInclusion(env, uint64(t.TxIndex), uint64(t.TxCount), path, hdr.DataHash) {
		return nil, nil, r.fail(name, "transaction %s is not at position %d of block %d", t.TxID, t.TxIndex, t.BlockNumber)
	}
	cfg := cv.at(t.BlockNumber)
	if _, err := r.verifyOrdererSignatures(name, hdr, t.OrdererSignatures, cfg); err != nil {
		return nil, nil, err
	}
	hash, err := types.HeaderHash(hdr)
	if err != nil {
		return nil, nil, r.fail(name, "%v", err)
	}
	want := types.ValidationCodesHash(codes)
	if _, err := r.verifyAttestations(name, t.Attestations, cv.channel, t.BlockNumber, hash, cfg, func(st *foliov1.StateAttestation) error {
		if !bytes.Equal(st.ValidationCodesHash, want) {
			return errors.New("attests other validation codes for the block")
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if len(codes) != int(t.TxCount) {
		return nil, nil, r.fail(name, "block %d has %d transactions but %d validation codes", t.BlockNumber, t.TxCount, len(codes))
	}
	code := foliov1.ValidationCode(codes[t.TxIndex])
	if t.ValidationCode != code.String() {
		return nil, nil, r.fail(name, "the bundle labels transaction %s %s, the attested validation codes say %s", t.TxID, t.ValidationCode, code)
	}
	if code != foliov1.ValidationCode_VALID {
		return nil, nil, r.fail(name, "transaction %s was committed %s (attested by peers of every organisation): it changed nothing", t.TxID, code)
	}
	vt := validate.CheckTx(env, int(t.TxIndex), hdr, validate.Options{ChannelID: cv.channel, Config: cfg, Contracts: cv})
	if vt.Code != foliov1.ValidationCode_VALID {
		return nil, nil, r.fail(name, "transaction %s fails the chain's rules offline: %s: %s", t.TxID, vt.Code, vt.Reason)
	}
	if vt.TxID != t.TxID {
		return nil, nil, r.fail(name, "the envelope is transaction %s, the bundle says %s", vt.TxID, t.TxID)
	}
	return &vt, hdr, nil
}

func after(a, b Version) bool { return a.Block > b.Block || a.Block == b.Block && a.Tx > b.Tx }

// verifyHistory checks every change of the key and that none is missing:
// the first change read the key absent, and each later one read exactly
// the version the previous change wrote (or absent after a delete). Each
// is VALID, so the validator's MVCC check held: when it committed, the
// version it read was the key's latest, hence no valid change lies between
// two entries or before the first. The last change is the proven value.
func (r *Report) verifyHistory(b *Bundle, cv *chain, ns, key, value []byte) error {
	if len(b.History) == 0 {
		return r.fail("history", "no history entries")
	}
	var last *foliov1.KVWrite
	var prev Version
	for i, t := range b.History {
		name := fmt.Sprintf("history[%d]", i)
		v := Version{Block: t.BlockNumber, Tx: uint64(t.TxIndex)}
		if i > 0 && !after(v, prev) {
			return r.fail(name, "history is not in commit order")
		}
		if v.Block > b.BlockNumber {
			return r.fail(name, "change in block %d, after the proven block %d", v.Block, b.BlockNumber)
		}
		vt, hdr, err := r.verifyTx(name, t, cv)
		if err != nil {
			return err
		}
		if vt.Invocation == nil || vt.Action == nil {
			return r.fail(name, "transaction %s is not a contract call", t.TxID)
		}
		rw := vt.Action.GetRwset()
		w := writeOf(rw, string(ns), string(key))
		if w == nil {
			return r.fail(name, "transaction %s does not write %s/%s", t.TxID, ns, ReadableKey(string(key)))
		}
		read, ok := readOf(rw, string(ns), string(key))
		if !ok {
			return r.fail(name, "transaction %s writes %s/%s without reading it: the history cannot be proven complete", t.TxID, ns, ReadableKey(string(key)))
		}
		switch {
		case i == 0 && read != nil:
			return r.fail(name, "the first change read version (block %d, tx %d): the changes before it are missing", read.BlockNum, read.TxNum)
		case i > 0 && last.IsDelete && read != nil:
			return r.fail(name, "read version (block %d, tx %d) after a delete: changes are missing", read.BlockNum, read.TxNum)
		case i > 0 && !last.IsDelete && (read == nil || read.BlockNum != prev.Block || read.TxNum != prev.Tx):
			return r.fail(name, "read %s, but the previous change is (block %d, tx %d): changes between them are missing", verString(read), prev.Block, prev.Tx)
		}
		prev, last = v, w
		var endorsers []string
		for _, e := range vt.Endorsers {
			endorsers = append(endorsers, e.Label())
		}
		r.pass(name, "%s: %s.%s by %s at %s, endorsed by %s (policy %s, version %s), ordered in block %d (tx %d), VALID",
			t.TxID, vt.Invocation.Contract, vt.Invocation.Function, vt.Creator.Label(), time.Unix(0, vt.Header.TimestampUnixNano).UTC().Format(time.RFC3339),
			strings.Join(endorsers, ", "), lifecycle.EffectiveIn(cv.defs, hdr.Number).PolicySrc, vt.Action.GetContract().GetVersion(), t.BlockNumber, t.TxIndex)
	}
	if prev != b.Version || last.IsDelete || !bytes.Equal(last.Value, value) {
		return r.fail("history", "the last change (block %d, tx %d) is not the proven value's version (block %d, tx %d)", prev.Block, prev.Tx, b.Version.Block, b.Version.Tx)
	}
	r.pass("history", "%d change(s), complete: the first read %s absent, each later one the version the previous wrote", len(b.History), ReadableKey(string(key)))
	return nil
}

func verString(v *foliov1.Version) string {
	if v == nil {
		return "the key absent"
	}
	return fmt.Sprintf("version (block %d, tx %d)", v.BlockNum, v.TxNum)
}

func writeOf(rw *foliov1.ReadWriteSet, ns, key string) *foliov1.KVWrite {
	for _, n := range rw.GetNsRwsets() {
		if n.Namespace != ns {
			continue
		}
		for _, w := range n.Writes {
			if w.Key == key {
				return w
			}
		}
	}
	return nil
}

// readOf returns the version at which the transaction read key (nil: read
// absent) and whether it read it at all.
func readOf(rw *foliov1.ReadWriteSet, ns, key string) (*foliov1.Version, bool) {
	for _, n := range rw.GetNsRwsets() {
		if n.Namespace != ns {
			continue
		}
		for _, rd := range n.Reads {
			if rd.Key == key {
				return rd.Version, true
			}
		}
	}
	return nil, false
}
