package evidence_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client/evidence"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/types"
)

// An attacker holding a genuine bundle changes it and hands it to a court,
// which checks it with the organisations' root certificates only. Every
// change must fail, naming the check that caught it; the untouched bundle
// must verify.

func TestHonestBundleVerifies(t *testing.T) {
	s := newStory(t)
	for name, anchor := range map[string]evidence.Anchor{"pinned genesis block": s.anchor(), "root certificates": {Roots: s.roots()}} {
		rep, err := evidence.Verify(s.data, anchor)
		if err != nil || !rep.Valid {
			t.Fatalf("%s: %v (report %+v)", name, err, rep)
		}
		var names []string
		for _, c := range rep.Checks {
			if !c.OK {
				t.Errorf("%s: check %s failed in a valid report: %s", name, c.Name, c.Detail)
			}
			names = append(names, c.Name)
		}
		if want := []string{"format", "trust", "trie", "config", "block", "attestations", "definitions", "history[0]", "history[1]", "history[2]", "history"}; !slices.Equal(names, want) {
			t.Errorf("%s: checks %v, want %v", name, names, want)
		}
		var rec bytes.Buffer
		if err := json.Compact(&rec, rep.Record); err != nil {
			t.Fatal(err)
		}
		if rep.Namespace != namespace || rep.Key != workKey || rep.Block != 3 || !bytes.Equal(rec.Bytes(), record(t, "bob@Org2 (remastered)")) {
			t.Errorf("%s: report of %s/%s at block %d: %s", name, rep.Namespace, rep.Key, rep.Block, rep.Record)
		}
	}
	// Who changed the record, when, how and under which policy, in commit order.
	rep, _ := evidence.Verify(s.data, s.anchor())
	for i, want := range []string{".register by alice@Org1 at ", ".transfer by alice@Org1 at ", ".update by bob@Org2 at "} {
		if d := rep.Checks[7+i].Detail; !strings.Contains(d, "copyright"+want) || !strings.Contains(d, "endorsed by peer0.org1@Org1, peer0.org2@Org2 (policy AND('Org1MSP.peer','Org2MSP.peer'), version 1)") {
			t.Errorf("history[%d]: %s", i, d)
		}
	}
}

// A bundle re-indented by an editor or a pretty-printer still verifies:
// the content is canonical, only whitespace between tokens changed.
func TestReindentedBundleVerifies(t *testing.T) {
	s := newStory(t)
	for name, reformat := range map[string]func([]byte) []byte{
		"compacted": func(d []byte) []byte {
			var out bytes.Buffer
			if err := json.Compact(&out, d); err != nil {
				t.Fatal(err)
			}
			return out.Bytes()
		},
		"tabs and CRLF": func(d []byte) []byte {
			var out bytes.Buffer
			if err := json.Indent(&out, d, "", "\t"); err != nil {
				t.Fatal(err)
			}
			return bytes.ReplaceAll(out.Bytes(), []byte("\n"), []byte("\r\n"))
		},
		"no trailing newline": func(d []byte) []byte { return bytes.TrimSuffix(d, []byte("\n")) },
	} {
		data := reformat(bytes.Clone(s.data))
		if bytes.Equal(data, s.data) {
			t.Fatalf("%s: the file did not change", name)
		}
		if rep, err := evidence.Verify(data, s.anchor()); err != nil || !rep.Valid {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The keys and value are shown as people name them, not as bytes.
func TestReadableKey(t *testing.T) {
	for in, want := range map[string]string{"\x00work\x00BOOK-1\x00": "work BOOK-1", "\x00owner\x00alice@Org1\x00W1\x00": "owner alice@Org1 W1", "work/W1": "work/W1", "": ""} {
		if got := evidence.ReadableKey(in); got != want {
			t.Errorf("ReadableKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// tamper is one attack: an edit of the peer's answer before the bundle is
// built (resp), of the decoded bundle (bundle), or of the file's bytes
// (raw), or verification with other roots (roots).
type tamper struct {
	name   string
	resp   func(s *story, r *foliov1.ProveResponse)
	bundle func(s *story, b *evidence.Bundle)
	raw    func(s *story, data []byte) []byte
	anchor func(s *story) evidence.Anchor
	// check is the check that must fail; detail what it must say.
	check, detail string
}

// apply returns the tampered file and the anchor to verify it with.
func (tc tamper) apply(t *testing.T, s *story) ([]byte, evidence.Anchor) {
	t.Helper()
	data, anchor := s.data, s.anchor()
	switch {
	case tc.resp != nil:
		r := proto.Clone(s.resp).(*foliov1.ProveResponse)
		tc.resp(s, r)
		data = buildFrom(t, r)
	case tc.bundle != nil:
		b := s.decode()
		tc.bundle(s, b)
		var err error
		if data, err = b.Encode(); err != nil {
			t.Fatal(err)
		}
	case tc.raw != nil:
		data = tc.raw(s, bytes.Clone(s.data))
	}
	if tc.anchor != nil {
		anchor = tc.anchor(s)
	}
	if bytes.Equal(data, s.data) && tc.anchor == nil {
		t.Fatal("the tampering changed nothing")
	}
	return data, anchor
}

// flip returns b with one bit of byte i changed (i < 0 counts from the end).
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	if i < 0 {
		i += len(c)
	}
	c[i] ^= 0x01
	return c
}

func TestTamperingFails(t *testing.T) {
	s := newStory(t)
	rogueOrderers := identitytest.NewOrg(t, "OrdererOrg") // same names, another CA
	roguePeers := identitytest.NewOrg(t, "Org2")
	for _, tc := range []tamper{
		// 1. The value and its trie proof.
		{name: "a byte of the value", check: "trie", detail: "the value proven differs",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.Value = flip(r.Value, 10) }},
		{name: "the value replaced by another owner's record", check: "trie",
			resp: func(s *story, r *foliov1.ProveResponse) { r.Value = record(s.t, "mallory@Org1") }},
		{name: "a byte of the state root", check: "trie", detail: "does not verify against state root",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.StateRoot = flip(r.StateRoot, 5) }},
		{name: "a byte of an account proof node", check: "trie", detail: "account proof",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.AccountProof[0] = flip(r.AccountProof[0], -3) }},
		{name: "a byte of a storage proof node", check: "trie", detail: "storage proof",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.StorageProof[0] = flip(r.StorageProof[0], 7) }},
		{name: "a storage proof node dropped", check: "trie",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.StorageProof = r.StorageProof[:len(r.StorageProof)-1] }},
		{name: "the account's nonce", check: "trie", detail: "the account record proven differs",
			bundle: func(_ *story, b *evidence.Bundle) { b.Account.Nonce++ }},
		{name: "the key, claiming the proof is another work's", check: "trie",
			bundle: func(_ *story, b *evidence.Bundle) { b.Key = hex.EncodeToString([]byte("work/W2")) }},
		{name: "the namespace", check: "trie",
			bundle: func(_ *story, b *evidence.Bundle) { b.Namespace = hex.EncodeToString([]byte("release")) }},
		{name: "the readable record", check: "record", detail: "differs from the proven value",
			bundle: func(s *story, b *evidence.Bundle) { b.Record = record(s.t, "mallory@Org1") }},

		// 2. The block the state root belongs to.
		{name: "a byte of the block header", check: "block", detail: "no valid signature of an orderer of the channel",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.Header.DataHash = flip(r.Header.DataHash, 0) }},
		{name: "the block number, header and all", check: "block",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.BlockNumber, r.Header.Number = 2, 2 }},
		{name: "the block number beside its header", check: "block", detail: "malformed or numbered 3",
			bundle: func(_ *story, b *evidence.Bundle) { b.BlockNumber = 2 }},
		{name: "a byte of the orderer signature", check: "block",
			resp: func(_ *story, r *foliov1.ProveResponse) {
				r.OrdererSignatures[0].Signature = flip(r.OrdererSignatures[0].Signature, -1)
			}},
		{name: "the orderer signatures removed", check: "block",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.OrdererSignatures = nil }},
		{name: "the header signed by a peer instead of an orderer", check: "block",
			resp: func(s *story, r *foliov1.ProveResponse) {
				r.OrdererSignatures = []*foliov1.OrdererSignature{signHeader(s.t, s.peer1, r.Header)}
			}},
		{name: "the header re-signed by an orderer of an untrusted root", check: "block",
			resp: func(s *story, r *foliov1.ProveResponse) {
				r.OrdererSignatures = []*foliov1.OrdererSignature{signHeader(s.t, rogueOrderers.Member(s.t, "orderer0", identity.RoleOrderer), r.Header)}
			}},

		// 2. The attestations of the state root.
		{name: "a byte of an attested statement", check: "attestations", detail: "attestation of block 3 by peer0.org2@Org2",
			resp: func(_ *story, r *foliov1.ProveResponse) {
				r.Attestations[1].Attestation = flip(r.Attestations[1].Attestation, -1)
			}},
		{name: "a byte of an attestation's signature", check: "attestations",
			resp: func(_ *story, r *foliov1.ProveResponse) {
				r.Attestations[0].Signature = flip(r.Attestations[0].Signature, -2)
			}},
		{name: "an organisation's attestation dropped", check: "attestations", detail: "no peer of Org2MSP attests block 3",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.Attestations = r.Attestations[:1] }},
		{name: "an organisation's attestation replaced by another's twice", check: "attestations", detail: "no peer of Org2MSP",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.Attestations[1] = r.Attestations[0] }},
		{name: "an attestation of another block", check: "attestations", detail: "attests another block (channel \"folio\", block 2",
			resp: func(s *story, r *foliov1.ProveResponse) { r.Attestations[1] = s.attest(s.peer2, 2) }},
		{name: "an attestation re-signed by a peer of an untrusted root", check: "attestations", detail: "is not by a peer of the channel: identity",
			resp: func(s *story, r *foliov1.ProveResponse) {
				r.Attestations[1] = s.attest(roguePeers.Member(s.t, "peer0.org2", identity.RolePeer), 3)
			}},
		{name: "an attestation by a client", check: "attestations", detail: "bob@Org2 is a client, not a peer",
			resp: func(s *story, r *foliov1.ProveResponse) { r.Attestations[1] = s.attest(s.bob, 3) }},

		// 3. The history of changes.
		{name: "a byte of a history entry's envelope", check: "history[1]", detail: "is not at position 2 of block 2",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History[1].Envelope = flip(r.History[1].Envelope, 40) }},
		{name: "a node of an inclusion path", check: "history[1]", detail: "is not at position",
			resp: func(_ *story, r *foliov1.ProveResponse) {
				r.History[1].InclusionPath[0] = flip(r.History[1].InclusionPath[0], 0)
			}},
		{name: "a history entry's position", check: "history[1]", detail: "is not at position 1 of block 2",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History[1].TxIndex = 1 }},
		{name: "a history entry's transaction count", check: "history[1]", detail: "is not at position",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History[1].TxCount = 4 }},
		{name: "a history entry's block timestamp", check: "history[1]", detail: "block 2 carries no valid signature",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History[1].Header.TimestampUnixNano-- }},
		{name: "a history entry's block number", check: "history[1]", detail: "block header malformed",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History[1].BlockNumber = 1 }},
		{name: "a byte of a history entry's orderer signature", check: "history[2]", detail: "block 3 carries no valid signature",
			resp: func(_ *story, r *foliov1.ProveResponse) {
				r.History[2].OrdererSignatures[0].Signature = flip(r.History[2].OrdererSignatures[0].Signature, -1)
			}},
		{name: "a history entry's transaction ID", check: "history[1]", detail: "the envelope is transaction",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History[1].TxId = r.History[0].TxId }},
		{name: "a history entry replaced by a transaction on another key", check: "history[1]", detail: "does not write copyright/work/W1",
			resp: func(s *story, r *foliov1.ProveResponse) { r.History[1] = s.txProof(2, 0) }},
		{name: "a history entry forged under an untrusted root", check: "history[1]", detail: "certificate was not issued by the organisation's CA",
			resp: func(s *story, r *foliov1.ProveResponse) {
				r.History[1] = forgedEntry(s, roguePeers.Member(s.t, "bob", identity.RoleClient), rogueOrderers.Member(s.t, "orderer0", identity.RoleOrderer), 2)
			}},
		{name: "the last history entry dropped", check: "history", detail: "the last change (block 2, tx 2) is not the proven value's version (block 3, tx 0)",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History = r.History[:2] }},
		{name: "the history emptied", check: "history", detail: "no history entries",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History = nil }},
		{name: "the history reordered", check: "history[1]", detail: "changes between them are missing",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History[1], r.History[2] = r.History[2], r.History[1] }},
		{name: "a history entry repeated", check: "history[2]", detail: "not in commit order",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History = slices.Insert(r.History, 1, r.History[1]) }},
		{name: "the proven value's version", check: "history", detail: "is not the proven value's version (block 3, tx 1)",
			bundle: func(_ *story, b *evidence.Bundle) { b.Version.Tx = 1 }},

		// The file itself: canonical form, format.
		{name: "fields reordered", check: "format", detail: "not in canonical form",
			raw: func(s *story, data []byte) []byte {
				var m map[string]any
				if err := json.Unmarshal(data, &m); err != nil {
					s.t.Fatal(err)
				}
				out, err := json.MarshalIndent(m, "", "  ") // map keys sort alphabetically
				if err != nil {
					s.t.Fatal(err)
				}
				return append(out, '\n')
			}},
		{name: "an unknown field added", check: "format", detail: "not a Folio evidence bundle",
			raw: func(_ *story, data []byte) []byte {
				return bytes.Replace(data, []byte(`"format"`), []byte(`"verified": true,
  "format"`), 1)
			}},
		{name: "another format", check: "format", detail: `format "folio-evidence/3"`,
			bundle: func(_ *story, b *evidence.Bundle) { b.Format = "folio-evidence/3" }},
		{name: "not JSON", check: "format", detail: "not a Folio evidence bundle",
			raw: func(_ *story, data []byte) []byte { return data[:len(data)/2] }},
		{name: "a value that is not hex", check: "encoding", detail: "value: ",
			bundle: func(_ *story, b *evidence.Bundle) { b.Value = "zz" + b.Value[2:] }},

		// The trust anchors.
		{name: "no anchor", check: "trust", detail: "no trust anchor", anchor: func(*story) evidence.Anchor { return evidence.Anchor{} }},
		{name: "a root without a certificate", check: "trust", detail: "a root needs an MSP ID and a certificate",
			anchor: func(s *story) evidence.Anchor {
				return evidence.Anchor{Roots: append(s.roots()[:2], evidence.Root{MSPID: "OrdererOrgMSP"})}
			}},
		{name: "the roots of other CAs with the same names", check: "trust", detail: "organisation Org1MSP has another root certificate",
			anchor: func(s *story) evidence.Anchor {
				return evidence.Anchor{Roots: []evidence.Root{{MSPID: "Org1MSP", Cert: identitytest.NewOrg(s.t, "Org1").CA.Cert}, {MSPID: "Org2MSP", Cert: roguePeers.CA.Cert},
					{MSPID: "OrdererOrgMSP", Cert: rogueOrderers.CA.Cert}}}
			}},
		{name: "the ordering organisation not trusted", check: "trust", detail: "it has 3 organisations, 2 roots were given",
			anchor: func(s *story) evidence.Anchor { return evidence.Anchor{Roots: s.roots()[:2]} }},
		{name: "another network's genesis block pinned", check: "trust", detail: "not the pinned genesis",
			anchor: func(s *story) evidence.Anchor { return evidence.Anchor{Genesis: newWorld(s.t).genesis} }},
		{name: "the bundle's genesis replaced by another network's", check: "trust", detail: "not the pinned genesis",
			resp: func(s *story, r *foliov1.ProveResponse) { r.Genesis = newWorld(s.t).genesis }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, anchor := tc.apply(t, s)
			mustFail(t, data, anchor, tc.check, tc.detail)
		})
	}
}

// mustFail verifies data and requires the check named check to fail,
// saying detail: the error wraps ErrInvalid and names the check, the
// report is not valid and ends with that check, failed.
func mustFail(t *testing.T, data []byte, anchor evidence.Anchor, check, detail string) {
	t.Helper()
	rep, err := evidence.Verify(data, anchor)
	if err == nil {
		t.Fatalf("the tampered bundle verifies (report: %+v)", rep.Checks)
	}
	if !errors.Is(err, evidence.ErrInvalid) || !strings.Contains(err.Error(), ": "+check+": ") || !strings.Contains(err.Error(), detail) {
		t.Fatalf("error %q, want ErrInvalid naming check %q and saying %q", err, check, detail)
	}
	if rep == nil || rep.Valid || len(rep.Checks) == 0 {
		t.Fatalf("report %+v of an invalid bundle", rep)
	}
	if last := rep.Checks[len(rep.Checks)-1]; last.Name != check || last.OK {
		t.Fatalf("report ends with %+v, want check %s failed", last, check)
	}
}

// forgedEntry is a history entry for a transaction by creator writing the
// key, in a block numbered num that signer signed (not a block of the
// chain), endorsed by peer0.org1.
func forgedEntry(s *story, creator, signer *identity.SigningIdentity, num uint64) *foliov1.TxProof {
	s.t.Helper()
	x := s.endorsedTx(creator, "transfer", workKey, record(s.t, creator.Label()), &foliov1.Version{BlockNum: 1}, s.peer1)
	envs := [][]byte{x.env}
	h := &foliov1.BlockHeader{Number: num, PreviousHash: make([]byte, 32), DataHash: types.DataHash(envs), TimestampUnixNano: s.prev.Header.TimestampUnixNano}
	b := &foliov1.Block{Header: h, Data: &foliov1.BlockData{Envelopes: envs},
		Metadata: &foliov1.BlockMetadata{Signatures: []*foliov1.OrdererSignature{signHeader(s.t, signer, h)}, ValidationCodes: []byte{0}}}
	return proveTx(s.t, b, 0)
}

// TestRandomBitFlips: any single bit flipped anywhere in the file fails
// verification, whatever check catches it (docs/evidence.md promises it),
// including a hex letter turned to upper case.
func TestRandomBitFlips(t *testing.T) {
	s := newStory(t)
	rng := rand.New(rand.NewPCG(17, 18))
	for range 300 {
		i, bit := rng.IntN(len(s.data)), byte(1)<<rng.IntN(8)
		data := bytes.Clone(s.data)
		data[i] ^= bit
		if rep, err := evidence.Verify(data, s.anchor()); err == nil || rep.Valid {
			t.Errorf("bit %#02x of byte %d (%q -> %q) flipped: the bundle still verifies", bit, i, s.data[i], data[i])
		}
	}
}

// TestSplicedBundlesRefused are the attacks of issue 18 on the format-1
// verifier, which accepted each of them (each was a skipped "known gap"
// test until the verifier caught it): an attacker holding genuine chain
// data rearranges it into a bundle that tells another story.
func TestSplicedBundlesRefused(t *testing.T) {
	s := newStory(t)
	for _, tc := range []tamper{
		// Format 1 printed validation_code and checked nothing: a valid
		// change relabelled, or an invalid transaction labelled VALID.
		{name: "relabelled validation code", check: "history[1]", detail: "the bundle labels transaction",
			bundle: func(_ *story, b *evidence.Bundle) { b.History[1].ValidationCode = "MVCC_READ_CONFLICT" }},
		{name: "the block's validation codes rewritten", check: "history[1]", detail: "attests other validation codes",
			bundle: func(_ *story, b *evidence.Bundle) { b.History[1].ValidationCodes = "000000" }},
		// Mallory's transfer was ordered (block 2, tx 1) but committed
		// ENDORSEMENT_POLICY_FAILURE: spliced in as a change, labelled VALID.
		{name: "rejected transaction inserted as a change, labelled VALID", check: "history[1]", detail: "the bundle labels transaction",
			resp: func(s *story, r *foliov1.ProveResponse) {
				in := proto.Clone(s.rejected).(*foliov1.TxProof)
				in.ValidationCode = foliov1.ValidationCode_VALID
				r.History = slices.Insert(r.History, 1, in)
			}},
		{name: "rejected transaction inserted with its true code", check: "history[1]", detail: "was committed ENDORSEMENT_POLICY_FAILURE",
			resp: func(s *story, r *foliov1.ProveResponse) {
				r.History = slices.Insert(r.History, 1, proto.Clone(s.rejected).(*foliov1.TxProof))
			}},
		{name: "rejected transaction inserted with its block's codes forged VALID", check: "history[1]", detail: "attests other validation codes",
			resp: func(s *story, r *foliov1.ProveResponse) {
				in := proto.Clone(s.rejected).(*foliov1.TxProof)
				in.ValidationCode, in.ValidationCodes = foliov1.ValidationCode_VALID, []byte{0, 0, 0}
				r.History = slices.Insert(r.History, 1, in)
			}},
		// Format 1 did not prove the history complete.
		{name: "first history entry dropped (hiding the first registrant)", check: "history[0]", detail: "the changes before it are missing",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History = r.History[1:] }},
		{name: "middle history entry dropped", check: "history[1]", detail: "changes between them are missing",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.History = slices.Delete(r.History, 1, 2) }},
		// Format 1 counted any orderer-role certificate under any root.
		{name: "history entry from a block signed by an orderer certificate of a peer organisation", check: "history[1]", detail: "is not a orderer of channel folio",
			resp: func(s *story, r *foliov1.ProveResponse) {
				fake := s.org1.Member(s.t, "orderer9", identity.RoleOrderer) // Org1's CA issues itself an orderer certificate
				r.History = slices.Insert(r.History, 1, forgedEntry(s, s.org1.Member(s.t, "mallory", identity.RoleClient), fake, 2))
			}},
		{name: "the proven block re-signed by an orderer certificate of a peer organisation", check: "block", detail: "is not a orderer of channel folio",
			resp: func(s *story, r *foliov1.ProveResponse) {
				r.OrdererSignatures = []*foliov1.OrdererSignature{signHeader(s.t, s.org2.Member(s.t, "orderer0", identity.RoleOrderer), r.Header)}
			}},
		// A block of another channel run by the same organisations.
		{name: "a block of another channel", check: "trust", detail: "the bundle says channel \"another\"",
			bundle: func(_ *story, b *evidence.Bundle) { b.Channel = "another" }},
		{name: "a history entry's attestations from another channel", check: "history[1]", detail: "attests another block",
			resp: func(s *story, r *foliov1.ProveResponse) {
				r.History[1].Attestations = []*foliov1.SignedAttestation{s.attestAs(s.peer1, 2, "another"), s.attestAs(s.peer2, 2, "another")}
			}},
		// The policy comes from the chain, not the bundle.
		{name: "the contract definitions proof dropped", check: "definitions", detail: "does not verify",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.Definitions.AccountProof = nil }},
		{name: "the config state proven for another key", check: "config", detail: "proves",
			resp: func(_ *story, r *foliov1.ProveResponse) { r.ConfigState.Key = "other" }},
		// One set of facts, one file.
		{name: "hex case", check: "encoding", detail: "lowercase",
			raw: func(_ *story, data []byte) []byte {
				i := bytes.Index(data, []byte(`"value": "`)) + len(`"value": "`)
				j := i + bytes.IndexByte(data[i:], '"')
				copy(data[i:j], bytes.ToUpper(data[i:j]))
				return data
			}},
		{name: "a duplicate key, the first one read by people", check: "format", detail: "not in canonical form",
			raw: func(_ *story, data []byte) []byte {
				return bytes.Replace(data, []byte(`"channel"`), []byte(`"block_number": 1,
  "channel"`), 1)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, anchor := tc.apply(t, s)
			mustFail(t, data, anchor, tc.check, tc.detail)
		})
	}
}

// FuzzVerify: no input makes Verify panic, and a report is valid exactly
// when no error is returned.
func FuzzVerify(f *testing.F) {
	s := newStory(f)
	anchor := s.anchor()
	f.Add(s.data)
	var compact bytes.Buffer
	if err := json.Compact(&compact, s.data); err != nil {
		f.Fatal(err)
	}
	f.Add(compact.Bytes())
	f.Add([]byte(`{"format":"folio-evidence/2"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := evidence.Verify(data, anchor)
		if (err == nil) != (rep != nil && rep.Valid) {
			t.Fatalf("error %v with report %+v", err, rep)
		}
	})
}

// Roots a court was handed by mistake (a leaf instead of a CA, one MSP
// twice) are refused with the trust check named, not a crash.
func TestUnusableRootsAreRefused(t *testing.T) {
	s := newStory(t)
	good := s.roots()
	for name, roots := range map[string][]evidence.Root{
		"leaf certificate as a root": append([]evidence.Root{{MSPID: "Org1MSP", Cert: s.alice.Cert}}, good[1:]...),
		"an MSP listed twice":        append(good, good[0]),
		"no certificate":             append([]evidence.Root{{MSPID: "Org1MSP"}}, good[1:]...),
		"no MSP ID":                  append([]evidence.Root{{Cert: good[0].Cert}}, good[1:]...),
		"none":                       nil,
	} {
		rep, err := evidence.Verify(s.data, evidence.Anchor{Roots: roots})
		if !errors.Is(err, evidence.ErrInvalid) || rep.Valid || len(rep.Checks) == 0 || rep.Checks[len(rep.Checks)-1].Name != "trust" {
			t.Errorf("%s: %v (report %+v)", name, err, rep)
		}
	}
}

// A format-1 bundle is refused with what to do about it.
func TestFormatOneRefused(t *testing.T) {
	s := newStory(t)
	old := bytes.Replace(s.data, []byte(evidence.Format), []byte("folio-evidence/1"), 1)
	mustFail(t, old, s.anchor(), "format", `format "folio-evidence/1"`)
}
