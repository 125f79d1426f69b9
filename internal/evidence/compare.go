package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// Results of an AttestationCheck.
const (
	// ResultAgree: the other peer signed the same block hash and state root.
	ResultAgree = "agree"
	// ResultDisagree: it signed another state root (or block hash) for the
	// same block number.
	ResultDisagree = "disagree"
	// ResultInvalid: its answer is not a valid attestation of the block by
	// that peer (signature, signer, channel or block number).
	ResultInvalid = "invalid"
	// ResultUnavailable: no answer in time (down, or behind by more than
	// the wait of the attest protocol).
	ResultUnavailable = "unavailable"
)

// Errors of Compare, checked with errors.Is.
var (
	ErrRootMismatch  = errors.New("state roots differ")
	ErrBlockMismatch = errors.New("block hashes differ")
)

// VerifyAttestation checks that sa is a well-formed StateAttestation of
// channel signed, in domain types.DomainAttestation, by a valid peer
// identity of msp, and returns the signer and the statement. When nodeID is
// not empty the signer's key must have that node ID (the peer that was
// asked). It does not judge the state root.
func VerifyAttestation(msp *identity.Verifier, channel, nodeID string, sa *foliov1.SignedAttestation) (*identity.Identity, *foliov1.StateAttestation, error) {
	if sa == nil || len(sa.Attestation) == 0 || len(sa.Signer) == 0 || len(sa.Signature) == 0 {
		return nil, nil, errors.New("empty attestation")
	}
	id, err := msp.ValidateSerialized(sa.Signer)
	if err != nil {
		return nil, nil, fmt.Errorf("signer: %w", err)
	}
	if id.Role != identity.RolePeer {
		return nil, nil, fmt.Errorf("signer %s is a %s, not a peer", id.Label(), id.Role)
	}
	if nodeID != "" {
		if kid, err := fcrypto.KeyID(id.Cert.PublicKey); err != nil || kid != nodeID {
			return nil, nil, fmt.Errorf("signed by %s (node %.12s), not by the peer asked (node %.12s)", id.Label(), kid, nodeID)
		}
	}
	if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainAttestation, sa.Attestation, sa.Signature); err != nil {
		return nil, nil, fmt.Errorf("signature of %s: %w", id.Label(), err)
	}
	var st foliov1.StateAttestation
	if err := proto.Unmarshal(sa.Attestation, &st); err != nil {
		return nil, nil, fmt.Errorf("attestation of %s does not decode: %w", id.Label(), err)
	}
	if st.ChannelId != channel {
		return nil, nil, fmt.Errorf("%s attests channel %q, not %q", id.Label(), st.ChannelId, channel)
	}
	if len(st.StateRoot) != 32 || len(st.BlockHash) != 32 {
		return nil, nil, fmt.Errorf("%s attests a %d-byte state root and a %d-byte block hash, want 32 and 32", id.Label(), len(st.StateRoot), len(st.BlockHash))
	}
	return id, &st, nil
}

// Compare judges another peer's verified statement against this peer's own
// statement of the same block: nil when both name the same block hash and
// state root, else an error wrapping ErrBlockMismatch or ErrRootMismatch.
// Statements of different block numbers are a caller error.
func Compare(own, theirs *foliov1.StateAttestation) error {
	if own.BlockNumber != theirs.BlockNumber {
		return fmt.Errorf("statements of blocks %d and %d cannot be compared", own.BlockNumber, theirs.BlockNumber)
	}
	if !bytes.Equal(own.BlockHash, theirs.BlockHash) {
		return fmt.Errorf("%w after block %d: %x here, %x there", ErrBlockMismatch, own.BlockNumber, own.BlockHash, theirs.BlockHash)
	}
	if !bytes.Equal(own.StateRoot, theirs.StateRoot) {
		return fmt.Errorf("%w after block %d: %x here, %x there", ErrRootMismatch, own.BlockNumber, own.StateRoot, theirs.StateRoot)
	}
	return nil
}

// Dissenters takes the verified statements of one block by several peers
// (by peer name) and returns the peers to flag, each with the reason. When a
// strict majority signed the same block hash and state root, every other
// peer is flagged; when none did (two peers that differ, say), every peer
// whose statement is not shared by all is flagged, since nothing tells who
// is right. Statements of different block numbers are grouped apart (the
// caller should not mix them).
func Dissenters(stmts map[string]*foliov1.StateAttestation) map[string]string {
	var groups []*group
	names := make([]string, 0, len(stmts))
	for n := range stmts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st := stmts[n]
		var g *group
		for _, c := range groups {
			if c.st.BlockNumber == st.BlockNumber && bytes.Equal(c.st.BlockHash, st.BlockHash) && bytes.Equal(c.st.StateRoot, st.StateRoot) {
				g = c
				break
			}
		}
		if g == nil {
			g = &group{st: st}
			groups = append(groups, g)
		}
		g.peers = append(g.peers, n)
	}
	out := map[string]string{}
	if len(groups) <= 1 {
		return out
	}
	var major *group
	for _, g := range groups {
		if 2*len(g.peers) > len(stmts) {
			major = g
		}
	}
	for _, g := range groups {
		if g == major {
			continue
		}
		for _, n := range g.peers {
			st := stmts[n]
			if major == nil {
				out[n] = fmt.Sprintf("state root %.8x after block %d; no majority among %d peers (%s)", st.StateRoot, st.BlockNumber, len(stmts), describe(groups))
				continue
			}
			what := "state root"
			if !bytes.Equal(st.BlockHash, major.st.BlockHash) {
				what = "block hash"
			}
			out[n] = fmt.Sprintf("%s differs after block %d: it signed root %.8x, %d of %d peers signed %.8x (%s)",
				what, st.BlockNumber, st.StateRoot, len(major.peers), len(stmts), major.st.StateRoot, strings.Join(major.peers, ", "))
		}
	}
	return out
}

// group is the peers that signed one statement.
type group struct {
	st    *foliov1.StateAttestation
	peers []string
}

func describe(groups []*group) string {
	var parts []string
	for _, g := range groups {
		parts = append(parts, fmt.Sprintf("%.8x: %s", g.st.StateRoot, strings.Join(g.peers, ", ")))
	}
	return strings.Join(parts, "; ")
}

// Reported takes every peer's latest checks of the others (by reporting
// peer's name, as in NodeInfo.attestation_checks) and returns the peers
// that a strict majority of the peers that could judge them found
// disagreeing ("disagree" or "invalid"), each with the reason. "unavailable"
// checks do not count. A peer's checks of itself are ignored.
func Reported(checks map[string][]*foliov1.AttestationCheck) map[string]string {
	type tally struct {
		judged  int
		against []string
		block   uint64
	}
	t := map[string]*tally{}
	for reporter, cs := range checks {
		for _, c := range cs {
			if c.Peer == reporter || (c.Result != ResultAgree && c.Result != ResultDisagree && c.Result != ResultInvalid) {
				continue
			}
			x := t[c.Peer]
			if x == nil {
				x = &tally{}
				t[c.Peer] = x
			}
			x.judged++
			if c.Result != ResultAgree {
				x.against = append(x.against, reporter)
				x.block = max(x.block, c.BlockNumber)
			}
		}
	}
	out := map[string]string{}
	for peer, x := range t {
		if 2*len(x.against) > x.judged {
			sort.Strings(x.against)
			out[peer] = fmt.Sprintf("%d of %d peers found its signed state root different or invalid (%s; block %d)", len(x.against), x.judged, strings.Join(x.against, ", "), x.block)
		}
	}
	return out
}
