package content

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/folio-ledger/folio/contracts/release"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
)

// DefaultChunkSize is the plaintext size of a chunk unless the owner picks
// another: 1 MiB.
const DefaultChunkSize = 1 << 20

// TagSize is the AES-GCM tag each chunk carries.
const TagSize = release.TagSize

// Errors callers branch on.
var (
	// ErrCorrupt marks data that fails verification: a chunk whose hash is
	// not its leaf, a manifest whose root is not the one on chain, a chunk
	// that does not authenticate under the key.
	ErrCorrupt = errors.New("content: corrupt")
	// ErrMalformed marks undecodable or inconsistent input.
	ErrMalformed = errors.New("content: malformed")
)

// Manifest describes a release's ciphertext: sizes and every chunk's leaf
// hash. Not safe for concurrent mutation; read-only use is safe.
type Manifest struct {
	ID        string
	Size      int64
	ChunkSize int64
	Leaves    [][32]byte
}

// Chunks is the number of chunks.
func (m *Manifest) Chunks() int64 { return int64(len(m.Leaves)) }

// CipherSize is the total ciphertext size.
func (m *Manifest) CipherSize() int64 { return m.Size + m.Chunks()*TagSize }

// PlainLen is the plaintext length of chunk i.
func (m *Manifest) PlainLen(i int64) int64 {
	if i == m.Chunks()-1 {
		return m.Size - i*m.ChunkSize
	}
	return m.ChunkSize
}

// CipherLen is the ciphertext length of chunk i.
func (m *Manifest) CipherLen(i int64) int64 { return m.PlainLen(i) + TagSize }

// Offset is where chunk i starts in the ciphertext.
func (m *Manifest) Offset(i int64) int64 { return i * (m.ChunkSize + TagSize) }

// Root is the RFC 6962 Merkle root of the leaves.
func (m *Manifest) Root() [32]byte { return MerkleRoot(m.Leaves) }

// RootHex is Root in lowercase hex, as the release record stores it.
func (m *Manifest) RootHex() string {
	r := m.Root()
	return hex.EncodeToString(r[:])
}

// Validate checks the manifest against itself.
func (m *Manifest) Validate() error {
	switch {
	case m.ID == "" || len(m.ID) > 64:
		return fmt.Errorf("%w: manifest release ID of %d bytes", ErrMalformed, len(m.ID))
	case m.Size <= 0 || m.Size > release.MaxSize:
		return fmt.Errorf("%w: manifest size %d", ErrMalformed, m.Size)
	case m.ChunkSize < release.MinChunkSize || m.ChunkSize > release.MaxChunkSize:
		return fmt.Errorf("%w: manifest chunk size %d", ErrMalformed, m.ChunkSize)
	case m.Chunks() != release.ChunkCount(m.Size, m.ChunkSize):
		return fmt.Errorf("%w: manifest has %d chunks, %d bytes in chunks of %d make %d", ErrMalformed, m.Chunks(), m.Size, m.ChunkSize, release.ChunkCount(m.Size, m.ChunkSize))
	}
	return nil
}

// CheckRecord verifies the manifest against the release record on chain:
// same release, sizes, and the Merkle root of the leaves is the record's
// chunk root.
func (m *Manifest) CheckRecord(r *release.Record) error {
	if err := m.Validate(); err != nil {
		return err
	}
	switch {
	case m.ID != r.ID || m.Size != r.Size || m.ChunkSize != r.ChunkSize || m.Chunks() != r.Chunks:
		return fmt.Errorf("%w: manifest (release %s, %d bytes, chunks of %d) does not describe release %s (%d bytes, chunks of %d)",
			ErrCorrupt, m.ID, m.Size, m.ChunkSize, r.ID, r.Size, r.ChunkSize)
	case m.RootHex() != r.ChunkRoot:
		return fmt.Errorf("%w: manifest root %s is not the chunk root %s on chain", ErrCorrupt, m.RootHex(), r.ChunkRoot)
	}
	return nil
}

// VerifyChunk checks chunk i against its leaf hash.
func (m *Manifest) VerifyChunk(i int64, chunk []byte) error {
	if i < 0 || i >= m.Chunks() {
		return fmt.Errorf("%w: chunk %d of %d", ErrMalformed, i, m.Chunks())
	}
	if int64(len(chunk)) != m.CipherLen(i) {
		return fmt.Errorf("%w: chunk %d has %d bytes, want %d", ErrCorrupt, i, len(chunk), m.CipherLen(i))
	}
	if LeafHash(chunk) != m.Leaves[i] {
		return fmt.Errorf("%w: chunk %d does not match its hash in the manifest", ErrCorrupt, i)
	}
	return nil
}

const magic = "FRM1"

// MaxManifestChunks bounds the chunk count a manifest may announce.
const MaxManifestChunks = release.MaxSize / release.MinChunkSize

// MarshalBinary encodes the manifest (package doc).
func (m *Manifest) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 4+1+2+len(m.ID)+16+32*len(m.Leaves))
	b = append(b, magic...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.ID)))
	b = append(b, m.ID...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = binary.BigEndian.AppendUint32(b, uint32(m.ChunkSize))
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Leaves)))
	for _, l := range m.Leaves {
		b = append(b, l[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes and validates a manifest. It never aliases b.
func (m *Manifest) UnmarshalBinary(b []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: manifest: %s", ErrMalformed, what) }
	if len(b) < 7 || string(b[:4]) != magic {
		return bad("no FRM1 header")
	}
	if b[4] != 1 {
		return bad(fmt.Sprintf("version %d (this node reads 1)", b[4]))
	}
	b = b[5:]
	idLen := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) < idLen+16 {
		return bad("truncated")
	}
	id := string(b[:idLen])
	b = b[idLen:]
	size := int64(binary.BigEndian.Uint64(b))
	chunkSize := int64(binary.BigEndian.Uint32(b[8:]))
	n := int64(binary.BigEndian.Uint32(b[12:]))
	b = b[16:]
	if n > MaxManifestChunks || int64(len(b)) != 32*n {
		return bad(fmt.Sprintf("%d leaf bytes for %d chunks", len(b), n))
	}
	out := Manifest{ID: id, Size: size, ChunkSize: chunkSize, Leaves: make([][32]byte, n)}
	for i := range out.Leaves {
		copy(out.Leaves[i][:], b[32*i:])
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*m = out
	return nil
}

// LeafHash is SHA-256(0x00 || chunk).
func LeafHash(chunk []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(chunk)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// MerkleRoot is the RFC 6962 root over leaf hashes; SHA-256("") for none.
func MerkleRoot(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k<<1 < len(leaves) {
		k <<= 1
	}
	l, r := MerkleRoot(leaves[:k]), MerkleRoot(leaves[k:])
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

// aead returns AES-256-GCM for the content key.
func aead(key []byte) (cipher.AEAD, error) {
	if len(key) != release.KeySize {
		return nil, fmt.Errorf("%w: content key of %d bytes, want %d", ErrMalformed, len(key), release.KeySize)
	}
	return fcrypto.NewGCM(key, 12)
}

func nonce(i int64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], uint64(i))
	return n
}

func chunkAAD(rid string, i, n int64) []byte {
	b := make([]byte, 0, 24+len(rid)+18)
	b = append(b, "folio/release-chunk/v1"...)
	b = append(b, 0)
	b = append(b, rid...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(i))
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// Result is what Encrypt produced.
type Result struct {
	Manifest Manifest
	// PlainHash is the plaintext's SHA-256, "sha256:" + hex, as the
	// copyright contract stores content hashes.
	PlainHash string
}

// Encrypt reads exactly size bytes of plaintext from r and writes the
// ciphertext chunks to w, holding one chunk in memory at a time.
func Encrypt(r io.Reader, w io.Writer, key []byte, rid string, size, chunkSize int64) (*Result, error) {
	g, err := aead(key)
	if err != nil {
		return nil, err
	}
	m := Manifest{ID: rid, Size: size, ChunkSize: chunkSize}
	n := release.ChunkCount(size, chunkSize)
	m.Leaves = make([][32]byte, n)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	ph := sha256.New()
	buf := make([]byte, chunkSize, chunkSize+TagSize)
	for i := int64(0); i < n; i++ {
		p := buf[:m.PlainLen(i)]
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, fmt.Errorf("read plaintext chunk %d: %w", i, err)
		}
		ph.Write(p)
		ct := g.Seal(p[:0], nonce(i), p, chunkAAD(rid, i, n))
		m.Leaves[i] = LeafHash(ct)
		if _, err := w.Write(ct); err != nil {
			return nil, fmt.Errorf("write ciphertext chunk %d: %w", i, err)
		}
	}
	var extra [1]byte
	if k, _ := r.Read(extra[:]); k > 0 {
		return nil, fmt.Errorf("%w: the plaintext is longer than %d bytes (did the file change while it was read?)", ErrMalformed, size)
	}
	return &Result{Manifest: m, PlainHash: hashString(ph)}, nil
}

func hashString(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// Opener decrypts chunks of one release. Safe for concurrent use.
type Opener struct {
	g cipher.AEAD
	m *Manifest
}

// NewOpener returns an Opener for the release's content key.
func NewOpener(key []byte, m *Manifest) (*Opener, error) {
	g, err := aead(key)
	if err != nil {
		return nil, err
	}
	return &Opener{g: g, m: m}, nil
}

// Open authenticates and decrypts chunk i, appending the plaintext to dst.
func (o *Opener) Open(dst []byte, i int64, chunk []byte) ([]byte, error) {
	out, err := o.g.Open(dst, nonce(i), chunk, chunkAAD(o.m.ID, i, o.m.Chunks()))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d does not authenticate under the content key", ErrCorrupt, i)
	}
	return out, nil
}

// Decrypt reads the whole ciphertext from r, checks every chunk against the
// manifest, decrypts it and writes the plaintext to w; it returns the
// plaintext's hash ("sha256:" + hex). One chunk is in memory at a time.
func Decrypt(r io.Reader, w io.Writer, key []byte, m *Manifest) (string, error) {
	o, err := NewOpener(key, m)
	if err != nil {
		return "", err
	}
	ph := sha256.New()
	buf := make([]byte, m.ChunkSize+TagSize)
	out := make([]byte, 0, m.ChunkSize)
	for i := int64(0); i < m.Chunks(); i++ {
		c := buf[:m.CipherLen(i)]
		if _, err := io.ReadFull(r, c); err != nil {
			return "", fmt.Errorf("read ciphertext chunk %d: %w", i, err)
		}
		if err := m.VerifyChunk(i, c); err != nil {
			return "", err
		}
		p, err := o.Open(out[:0], i, c)
		if err != nil {
			return "", err
		}
		ph.Write(p)
		if _, err := w.Write(p); err != nil {
			return "", fmt.Errorf("write plaintext chunk %d: %w", i, err)
		}
	}
	return hashString(ph), nil
}

// Equal reports whether two manifests are identical.
func Equal(a, b *Manifest) bool {
	if a.ID != b.ID || a.Size != b.Size || a.ChunkSize != b.ChunkSize || len(a.Leaves) != len(b.Leaves) {
		return false
	}
	for i := range a.Leaves {
		if !bytes.Equal(a.Leaves[i][:], b.Leaves[i][:]) {
			return false
		}
	}
	return true
}
