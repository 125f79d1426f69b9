package keys

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/release/shamir"
)

// Errors callers branch on.
var (
	// ErrForged marks key material that does not verify: a share that is
	// not the committed one, a key that is not the committed one, a key
	// server whose identity or certification does not check out.
	ErrForged = errors.New("forged or corrupt key material")
	// ErrTooFewShares means fewer than threshold valid shares are at hand.
	ErrTooFewShares = errors.New("not enough key shares")
)

// Signature domains (release.DomainKex, release.DomainShare).
const (
	DomainKex   fcrypto.Domain = release.DomainKex
	DomainShare fcrypto.Domain = release.DomainShare
)

// NewContentKey returns a fresh 32-byte AES-256 key.
func NewContentKey() ([]byte, error) {
	k := make([]byte, release.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("content key: %w", err)
	}
	return k, nil
}

// LoadOrCreateKex reads the key-agreement key at path, creating it (mode
// 0600) on first use.
func LoadOrCreateKex(path string) (*ecdh.PrivateKey, error) {
	k, err := fcrypto.ReadPrivateKey(path)
	if errors.Is(err, os.ErrNotExist) {
		nk, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		if werr := fcrypto.WritePrivateKey(path, nk); werr != nil {
			return nil, fmt.Errorf("write key-agreement key: %w", werr)
		}
		return nk.ECDH()
	}
	if err != nil {
		return nil, fmt.Errorf("key-agreement key %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("key-agreement key %s is not a P-256 key", path)
	}
	return ek.ECDH()
}

// KeyServerInfo is what a key server publishes about itself
// (ReleaseService.GetKeyServer).
type KeyServerInfo struct {
	Name   string `json:"name"`
	Org    string `json:"org"`
	MSPID  string `json:"msp_id"`
	NodeID string `json:"node_id"`
	// NodeCert is the node's signing certificate, PEM.
	NodeCert string `json:"node_cert"`
	// KexPub is the uncompressed P-256 key-agreement key, hex; KexSig the
	// node key's signature over KexStatement, hex DER.
	KexPub string `json:"kex_pub"`
	KexSig string `json:"kex_sig"`
}

// Describe builds a key server's info: its identity and its certified kex
// public key.
func Describe(self *identity.SigningIdentity, kex *ecdh.PrivateKey) (*KeyServerInfo, error) {
	pub := kex.PublicKey().Bytes()
	sig, err := self.Sign(DomainKex, release.KexStatement(self.ID(), pub))
	if err != nil {
		return nil, err
	}
	return &KeyServerInfo{Name: self.Name, Org: self.Org, MSPID: self.MSPID, NodeID: self.ID(),
		NodeCert: string(fcrypto.EncodeCertificatePEM(self.Certificate().Raw)), KexPub: hex.EncodeToString(pub), KexSig: hex.EncodeToString(sig)}, nil
}

// VerifyKeyServer checks a key server's info as the package doc says;
// wantNodeID is the node ID the channel configuration gives that peer. It
// returns the record entry (without index and share fields).
func VerifyKeyServer(info *KeyServerInfo, msp *identity.Verifier, wantName, wantNodeID string) (release.KeyServer, error) {
	fail := func(format string, args ...any) (release.KeyServer, error) {
		return release.KeyServer{}, fmt.Errorf("%w: key server %s: %s", ErrForged, wantName, fmt.Sprintf(format, args...))
	}
	cert, err := fcrypto.ParseCertificatePEM([]byte(info.NodeCert))
	if err != nil {
		return fail("node certificate: %v", err)
	}
	id, err := msp.Validate(info.MSPID, cert)
	if err != nil {
		return fail("node certificate: %v", err)
	}
	if id.Role != identity.RolePeer {
		return fail("its certificate is a %s's, not a peer's", id.Role)
	}
	if id.Name != wantName || info.Name != wantName || id.Org != info.Org {
		return fail("the certificate names %s of %s, the answer claims %s of %s", id.Name, id.Org, info.Name, info.Org)
	}
	nodeID, err := fcrypto.KeyID(cert.PublicKey)
	if err != nil {
		return fail("%v", err)
	}
	if nodeID != wantNodeID || info.NodeID != wantNodeID {
		return fail("node ID %s is not %s, the one the channel knows", nodeID, wantNodeID)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return fail("node key is not ECDSA P-256")
	}
	nodeKey, err := pub.Bytes()
	if err != nil {
		return fail("%v", err)
	}
	kexPub, err := hex.DecodeString(info.KexPub)
	if err != nil {
		return fail("kex_pub is not hex")
	}
	if _, err := ecdh.P256().NewPublicKey(kexPub); err != nil {
		return fail("kex_pub: %v", err)
	}
	sig, err := hex.DecodeString(info.KexSig)
	if err != nil {
		return fail("kex_sig is not hex")
	}
	if err := fcrypto.Verify(cert.PublicKey, DomainKex, release.KexStatement(nodeID, kexPub), sig); err != nil {
		return fail("its key-agreement key is not certified by its node key: %v", err)
	}
	return release.KeyServer{Name: id.Name, Org: id.Org, NodeID: nodeID, NodeKey: hex.EncodeToString(nodeKey),
		KexPub: info.KexPub, KexSig: info.KexSig}, nil
}

func shareInfo(rid string, index int) string {
	return fmt.Sprintf("folio/release-share-enc/v1\x00%s\x00%d", rid, index)
}

func shareAAD(rid string, index int) []byte {
	return append(append([]byte(rid), 0), byte(index))
}

// EncryptShare encrypts a share to a key server's kex public key.
func EncryptShare(kexPub []byte, rid string, index int, share []byte) ([]byte, error) {
	pub, err := ecdh.P256().NewPublicKey(kexPub)
	if err != nil {
		return nil, fmt.Errorf("kex public key: %w", err)
	}
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	z, err := eph.ECDH(pub)
	if err != nil {
		return nil, err
	}
	ephPub := eph.PublicKey().Bytes()
	k, err := fcrypto.DeriveKey(z, append(bytes.Clone(ephPub), kexPub...), shareInfo(rid, index), 32)
	if err != nil {
		return nil, err
	}
	s, err := fcrypto.NewSealer(k)
	if err != nil {
		return nil, err
	}
	return s.Seal(ephPub, share, shareAAD(rid, index))
}

// DecryptShare opens a share encrypted to this key server.
func DecryptShare(kex *ecdh.PrivateKey, rid string, index int, enc []byte) ([]byte, error) {
	if len(enc) < 65 {
		return nil, fmt.Errorf("%w: encrypted share of %d bytes", ErrForged, len(enc))
	}
	eph, err := ecdh.P256().NewPublicKey(enc[:65])
	if err != nil {
		return nil, fmt.Errorf("%w: encrypted share: %v", ErrForged, err)
	}
	z, err := kex.ECDH(eph)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForged, err)
	}
	k, err := fcrypto.DeriveKey(z, append(bytes.Clone(enc[:65]), kex.PublicKey().Bytes()...), shareInfo(rid, index), 32)
	if err != nil {
		return nil, err
	}
	s, err := fcrypto.NewSealer(k)
	if err != nil {
		return nil, err
	}
	share, err := s.Open(nil, enc[65:], shareAAD(rid, index))
	if err != nil {
		return nil, fmt.Errorf("%w: share %d does not open with this key server's key: %v", ErrForged, index, err)
	}
	return share, nil
}

// CheckShare verifies a share against the record's commitment for its
// index.
func CheckShare(r *release.Record, index int, share []byte) error {
	ks, ok := r.KeyServer(index)
	if !ok {
		return fmt.Errorf("%w: release %s has no share %d", ErrForged, r.ID, index)
	}
	want, _ := hex.DecodeString(ks.ShareCommit)
	if !bytes.Equal(release.ShareCommitment(r.ID, index, share), want) {
		return fmt.Errorf("%w: share %d (from %s) does not match its commitment", ErrForged, index, ks.Name)
	}
	return nil
}

// OpenKey combines at least threshold shares checked with CheckShare and
// verifies the result against the key commitment.
func OpenKey(r *release.Record, shares map[int][]byte) ([]byte, error) {
	if len(shares) < r.Threshold {
		return nil, fmt.Errorf("%w: %d of %d needed", ErrTooFewShares, len(shares), r.Threshold)
	}
	var pts []shamir.Share
	for idx, s := range shares {
		if err := CheckShare(r, idx, s); err != nil {
			return nil, err
		}
		var sh shamir.Share
		if err := sh.UnmarshalBinary(s); err != nil {
			return nil, fmt.Errorf("%w: share %d: %v", ErrForged, idx, err)
		}
		pts = append(pts, sh)
	}
	var key []byte
	if len(pts) == 1 { // a 1-of-1 release: the share's Y is the key
		key = pts[0].Y
	} else {
		var err error
		if key, err = shamir.Combine(pts); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrForged, err)
		}
	}
	want, _ := hex.DecodeString(r.KeyCommit)
	if !bytes.Equal(release.KeyCommitment(r.ID, key), want) {
		return nil, fmt.Errorf("%w: the shares combine to a key that is not the committed one", ErrForged)
	}
	return key, nil
}

// SplitKey splits the content key into n shares (t of them open it),
// encoded with shamir.Share.MarshalBinary; for n = 1 the one share is
// X=1 followed by the key.
func SplitKey(key []byte, n, t int) ([][]byte, error) {
	if n == 1 {
		return [][]byte{append([]byte{1}, key...)}, nil
	}
	pts, err := shamir.Split(key, n, t, rand.Reader)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	for i, p := range pts {
		if out[i], err = p.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ShareRelease is a key server's signed statement that it released a
// share at SentAt.
type ShareRelease struct {
	Index  int
	Share  []byte
	SentAt time.Time
	NodeID string
	Sig    []byte
}

// SignShareRelease signs the statement as the key server self.
func SignShareRelease(self *identity.SigningIdentity, rid string, index int, share []byte, sentAt time.Time) (*ShareRelease, error) {
	sig, err := self.Sign(DomainShare, release.ShareStatement(rid, index, share, sentAt, self.ID()))
	if err != nil {
		return nil, err
	}
	return &ShareRelease{Index: index, Share: share, SentAt: sentAt, NodeID: self.ID(), Sig: sig}, nil
}

// PublishArgs turns a statement into the contract's publish_share argument.
func (s *ShareRelease) PublishArgs(r *release.Record) release.PublishArgs {
	return release.PublishArgs{Work: r.Work, Owner: r.Owner, Index: s.Index, Share: hex.EncodeToString(s.Share),
		SentAt: s.SentAt.UTC().Format(time.RFC3339Nano), NodeID: s.NodeID, Sig: hex.EncodeToString(s.Sig)}
}
