package release

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	"github.com/folio-ledger/folio/contract"
)

// Limits of a release record.
const (
	MaxKeyServers   = 16
	MaxTrustedEdges = 16
	// MinChunkSize and MaxChunkSize bound the ciphertext chunk size.
	MinChunkSize = 4 << 10
	MaxChunkSize = 16 << 20
	// MaxSize bounds the plaintext size (1 TiB).
	MaxSize = 1 << 40
	// TagSize is the AES-GCM tag each ciphertext chunk carries.
	TagSize = 16
	// KeySize is the content key size (AES-256).
	KeySize = 32
	// MaxShareBytes bounds a share (X byte + key bytes).
	MaxShareBytes = 1 + KeySize
	// EncShareBytes is the size of an encrypted share: ephemeral P-256
	// point (65), nonce (12), share (33), tag (16).
	EncShareBytes = 65 + 12 + MaxShareBytes + TagSize
	// MaxErrorBytes bounds the error text of an access report.
	MaxErrorBytes = 1024
	// MaxClientBytes bounds a client name in an access report.
	MaxClientBytes = 64
)

// KeyServer is one key server of a release and its share.
type KeyServer struct {
	// Index is the share's X coordinate, 1..n.
	Index int `json:"index"`
	// Name and Org name the peer, e.g. "peer0.org1", "Org1".
	Name string `json:"name"`
	Org  string `json:"org"`
	// NodeID is the peer's node ID (hex SHA-256 of its node key SPKI).
	NodeID string `json:"node_id"`
	// NodeKey is the peer's node public key, uncompressed P-256 point, hex:
	// it verifies the key server's signed share releases.
	NodeKey string `json:"node_key"`
	// KexPub is the key-agreement public key the share is encrypted to
	// (uncompressed P-256, hex), and KexSig the node key's signature over
	// KexStatement(NodeID, KexPub) (hex DER).
	KexPub string `json:"kex_pub"`
	KexSig string `json:"kex_sig"`
	// ShareCommit is ShareCommitment(rid, Index, share), hex.
	ShareCommit string `json:"share_commit"`
	// EncShare is the share encrypted to KexPub: ephemeral public key (65)
	// || nonce (12) || AES-256-GCM ciphertext and tag, hex.
	EncShare string `json:"enc_share"`
}

// Record is a release as stored on chain.
type Record struct {
	// ID is ReleaseID(Work, Owner).
	ID          string `json:"id"`
	Work        string `json:"work"`
	Owner       string `json:"owner"`
	ContentHash string `json:"content_hash"`
	// Size is the plaintext size in bytes; ChunkSize the plaintext bytes
	// per chunk (the last chunk may be shorter); Chunks their number.
	Size      int64 `json:"size"`
	ChunkSize int64 `json:"chunk_size"`
	Chunks    int64 `json:"chunks"`
	// CipherSize is Size + Chunks x TagSize.
	CipherSize int64 `json:"cipher_size"`
	// ChunkRoot is the RFC 6962 Merkle root of the ciphertext chunks
	// (leaf SHA-256(0x00 || chunk)), hex.
	ChunkRoot string `json:"chunk_root"`
	// ReleaseAt (T) and EndAt (E), RFC 3339 with nanoseconds, UTC.
	ReleaseAt string `json:"release_at"`
	EndAt     string `json:"end_at"`
	// Threshold is t: any t shares open the key.
	Threshold    int         `json:"threshold"`
	KeyServers   []KeyServer `json:"key_servers"`
	TrustedEdges []string    `json:"trusted_edges"`
	// Origin is the peer the ciphertext was uploaded to.
	Origin string `json:"origin"`
	// KeyCommit is KeyCommitment(ID, key), hex.
	KeyCommit string `json:"key_commit"`
	CreatedAt string `json:"created_at"`
	CreatedBy string `json:"created_by"`
	TxID      string `json:"tx_id"`
}

// Times parses ReleaseAt and EndAt.
func (r *Record) Times() (release, end time.Time, err error) {
	if release, err = time.Parse(time.RFC3339Nano, r.ReleaseAt); err != nil {
		return release, end, contract.BadRequest("release_at", "release_at %q is not an RFC 3339 time", r.ReleaseAt)
	}
	if end, err = time.Parse(time.RFC3339Nano, r.EndAt); err != nil {
		return release, end, contract.BadRequest("end_at", "end_at %q is not an RFC 3339 time", r.EndAt)
	}
	return release, end, nil
}

// KeyServer returns the key server with the given share index.
func (r *Record) KeyServer(index int) (KeyServer, bool) {
	for _, k := range r.KeyServers {
		if k.Index == index {
			return k, true
		}
	}
	return KeyServer{}, false
}

// IsTrustedEdge reports whether the owner named peer as a trusted edge.
func (r *Record) IsTrustedEdge(peer string) bool {
	for _, e := range r.TrustedEdges {
		if e == peer {
			return true
		}
	}
	return false
}

// ChunkCount is the number of chunks of size bytes cut into chunkSize.
func ChunkCount(size, chunkSize int64) int64 {
	if chunkSize <= 0 {
		return 0
	}
	return (size + chunkSize - 1) / chunkSize
}

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	ownerPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}@[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	hashPattern  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	nodePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	hex64        = regexp.MustCompile(`^[0-9a-f]{64}$`)
	clientRe     = regexp.MustCompile(`^[A-Za-z0-9._:@-]{0,64}$`)
)

func hexField(field, v string, n int) error {
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != n {
		return contract.BadRequest(field, "%s must be %d bytes of lowercase hex", field, n)
	}
	return nil
}

// Validate checks everything about a record that does not depend on the
// ledger or the clock: formats, sizes, consistency. now is not consulted.
func (r *Record) Validate() error {
	switch {
	case !idPattern.MatchString(r.Work):
		return contract.BadRequest("work", "work %q is not a valid work ID", r.Work)
	case !ownerPattern.MatchString(r.Owner):
		return contract.BadRequest("owner", "owner %q: want user@Org", r.Owner)
	case !hashPattern.MatchString(r.ContentHash):
		return contract.BadRequest("content_hash", "content_hash must be sha256: and 64 lowercase hex digits")
	case r.Size <= 0 || r.Size > MaxSize:
		return contract.BadRequest("size", "size %d is not within 1..%d", r.Size, int64(MaxSize))
	case r.ChunkSize < MinChunkSize || r.ChunkSize > MaxChunkSize:
		return contract.BadRequest("chunk_size", "chunk_size %d is not within %d..%d", r.ChunkSize, MinChunkSize, MaxChunkSize)
	case r.Chunks != ChunkCount(r.Size, r.ChunkSize):
		return contract.BadRequest("chunks", "chunks %d: %d bytes in chunks of %d make %d", r.Chunks, r.Size, r.ChunkSize, ChunkCount(r.Size, r.ChunkSize))
	case r.CipherSize != r.Size+r.Chunks*TagSize:
		return contract.BadRequest("cipher_size", "cipher_size %d, want size + %d per chunk = %d", r.CipherSize, TagSize, r.Size+r.Chunks*TagSize)
	case !hex64.MatchString(r.ChunkRoot):
		return contract.BadRequest("chunk_root", "chunk_root must be 32 bytes of lowercase hex")
	case !hex64.MatchString(r.KeyCommit):
		return contract.BadRequest("key_commit", "key_commit must be 32 bytes of lowercase hex")
	case !nodePattern.MatchString(r.Origin):
		return contract.BadRequest("origin", "origin %q is not a peer name", r.Origin)
	case len(r.KeyServers) == 0 || len(r.KeyServers) > MaxKeyServers:
		return contract.BadRequest("key_servers", "%d key servers: need 1..%d", len(r.KeyServers), MaxKeyServers)
	case r.Threshold < 1 || r.Threshold > len(r.KeyServers):
		return contract.BadRequest("threshold", "threshold %d with %d key servers: need 1..%d", r.Threshold, len(r.KeyServers), len(r.KeyServers))
	case len(r.KeyServers) > 1 && r.Threshold < 2:
		return contract.BadRequest("threshold", "threshold 1 with %d key servers would let any one of them open the work alone", len(r.KeyServers))
	case len(r.TrustedEdges) > MaxTrustedEdges:
		return contract.BadRequest("trusted_edges", "%d trusted edges: at most %d", len(r.TrustedEdges), MaxTrustedEdges)
	}
	release, end, err := r.Times()
	if err != nil {
		return err
	}
	if !end.After(release) {
		return contract.BadRequest("end_at", "end time %s is not after the release time %s", r.EndAt, r.ReleaseAt)
	}
	seenIdx, seenName := map[int]bool{}, map[string]bool{}
	for i, k := range r.KeyServers {
		f := fmt.Sprintf("key_servers[%d]", i)
		switch {
		case k.Index < 1 || k.Index > len(r.KeyServers) || seenIdx[k.Index]:
			return contract.BadRequest(f+".index", "%s: index %d must be unique within 1..%d", f, k.Index, len(r.KeyServers))
		case !nodePattern.MatchString(k.Name) || seenName[k.Name]:
			return contract.BadRequest(f+".name", "%s: name %q must be a unique peer name", f, k.Name)
		case !nodePattern.MatchString(k.Org):
			return contract.BadRequest(f+".org", "%s: org %q is not an organisation name", f, k.Org)
		case !hex64.MatchString(k.NodeID):
			return contract.BadRequest(f+".node_id", "%s: node_id must be 64 lowercase hex digits", f)
		}
		seenIdx[k.Index], seenName[k.Name] = true, true
		for _, c := range []struct {
			field, v string
			n        int
		}{{"node_key", k.NodeKey, 65}, {"kex_pub", k.KexPub, 65}, {"share_commit", k.ShareCommit, 32}, {"enc_share", k.EncShare, EncShareBytes}} {
			if err := hexField(f+"."+c.field, c.v, c.n); err != nil {
				return err
			}
		}
		sig, err := hex.DecodeString(k.KexSig)
		if err != nil || len(sig) == 0 || len(sig) > 80 {
			return contract.BadRequest(f+".kex_sig", "%s: kex_sig must be a DER signature in hex", f)
		}
	}
	for i, e := range r.TrustedEdges {
		if !nodePattern.MatchString(e) {
			return contract.BadRequest(fmt.Sprintf("trusted_edges[%d]", i), "trusted edge %q is not a peer name", e)
		}
	}
	return nil
}

// Published is a share a key server released, as stored on chain.
type Published struct {
	Index int `json:"index"`
	// Share is the share (X byte then key bytes), hex.
	Share string `json:"share"`
	// SentAt is the key server's send time (RFC 3339, nanoseconds) and Sig
	// its node key's signature over ShareStatement (hex DER).
	SentAt string `json:"sent_at"`
	NodeID string `json:"node_id"`
	Sig    string `json:"sig"`
	// PublishedAt is the transaction timestamp; PublishedBy who submitted
	// it (the key server itself, or a client relaying its statement).
	PublishedAt string `json:"published_at"`
	PublishedBy string `json:"published_by"`
	TxID        string `json:"tx_id"`
}

// Access is one client's report of a release.
type Access struct {
	// Client is the reporting identity ("name@Org"), plus "/" and the
	// client name when one identity reports for several clients.
	Client string `json:"client"`
	Edge   string `json:"edge,omitempty"`
	// EdgeDecrypt: the client received plaintext from a trusted edge.
	EdgeDecrypt bool `json:"edge_decrypt,omitempty"`
	// Times, RFC 3339 with nanoseconds; empty when it did not happen.
	CiphertextCompleteAt string `json:"ciphertext_complete_at,omitempty"`
	KeyReceivedAt        string `json:"key_received_at,omitempty"`
	AccessAt             string `json:"access_at,omitempty"`
	// SHA256 is the plaintext's hash as the client computed it.
	SHA256 string `json:"sha256,omitempty"`
	// Shares lists the share indexes the client received.
	Shares []int `json:"shares,omitempty"`
	// Error says why the client could not open the work.
	Error      string `json:"error,omitempty"`
	ReportedAt string `json:"reported_at"`
	TxID       string `json:"tx_id"`
}
