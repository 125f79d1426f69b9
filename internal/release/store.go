package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/release/content"
)

// storeFormat is the on-disk format of a release directory; it only moves
// forward.
const storeFormat = 1

// store is one release's content on this peer's disk, in
// <data_dir>/release/<rid>/:
//
//	format       the store format ("1")
//	record.json  the release record (as read from the chain)
//	manifest     the manifest (content.Manifest binary)
//	cipher       the ciphertext, chunk i at Manifest.Offset(i) (sparse until complete)
//	have         bitmap of the chunks written and verified
//	plain        the plaintext, on a trusted edge once it has the key
//
// Chunks are verified against the manifest before they are written and
// again when they are read: a chunk damaged on disk is dropped from the
// bitmap and fetched again. Safe for concurrent use; mu guards the bitmap
// and the open file.
type store struct {
	dir string

	mu struct {
		sync.Mutex
		m      *content.Manifest
		have   []byte
		count  int64
		cipher *os.File
	}
}

func openStore(root string, rec *release.Record) (*store, error) {
	dir := filepath.Join(root, rec.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &store{dir: dir}
	if b, err := os.ReadFile(filepath.Join(dir, "format")); err == nil && string(b) != fmt.Sprint(storeFormat) {
		return nil, fmt.Errorf("release store %s has format %q; this peer reads %d", dir, b, storeFormat)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "format"), []byte(fmt.Sprint(storeFormat)), 0o600); err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(rec)
	if err := atomicfile.WriteFile(filepath.Join(dir, "record.json"), raw, 0o600); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "manifest")); err == nil {
		var m content.Manifest
		if err := m.UnmarshalBinary(b); err != nil || m.CheckRecord(rec) != nil {
			// A damaged manifest is fetched again.
			_ = os.Remove(filepath.Join(dir, "manifest"))
		} else if err := s.setManifest(&m, false); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *store) path(name string) string { return filepath.Join(s.dir, name) }

// manifest returns the manifest, or nil before it is known.
func (s *store) manifest() *content.Manifest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.m
}

// setManifest installs a verified manifest, writing it to disk if save.
func (s *store) setManifest(m *content.Manifest, save bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.m != nil {
		return nil
	}
	if save {
		raw, err := m.MarshalBinary()
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(s.path("manifest"), raw, 0o600); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(s.path("cipher"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	n := m.Chunks()
	have := make([]byte, (n+7)/8)
	if b, err := os.ReadFile(s.path("have")); err == nil && len(b) == len(have) {
		have = b
	}
	var count int64
	for i := int64(0); i < n; i++ {
		if have[i/8]&(1<<(i%8)) != 0 {
			count++
		}
	}
	s.mu.m, s.mu.have, s.mu.count, s.mu.cipher = m, have, count, f
	return nil
}

// has reports whether chunk i is held.
func (s *store) has(i int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hasLocked(i)
}

func (s *store) hasLocked(i int64) bool {
	return s.mu.m != nil && i >= 0 && i < s.mu.m.Chunks() && s.mu.have[i/8]&(1<<(i%8)) != 0
}

// progress returns the chunks held and the total (0 before the manifest).
func (s *store) progress() (have, total int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.m == nil {
		return 0, 0
	}
	return s.mu.count, s.mu.m.Chunks()
}

// complete reports whether every chunk is held.
func (s *store) complete() bool {
	have, total := s.progress()
	return total > 0 && have == total
}

// bitmap returns a copy of the bitmap (nil before the manifest).
func (s *store) bitmap() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.m == nil {
		return nil
	}
	return append([]byte(nil), s.mu.have...)
}

// missing lists the chunks not held, in order.
func (s *store) missing() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.m == nil {
		return nil
	}
	var out []int64
	for i := int64(0); i < s.mu.m.Chunks(); i++ {
		if !s.hasLocked(i) {
			out = append(out, i)
		}
	}
	return out
}

// errNoManifest: chunks cannot be stored or read before the manifest.
var errNoManifest = errors.New("manifest not known yet")

// putChunk verifies chunk i against the manifest and stores it. It
// returns content.ErrCorrupt for a chunk that does not match, and the
// file system's error (e.g. ENOSPC) if it cannot be written; the chunk is
// then not marked held.
func (s *store) putChunk(i int64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mu.m
	if m == nil {
		return errNoManifest
	}
	if err := m.VerifyChunk(i, data); err != nil {
		return err
	}
	if s.hasLocked(i) {
		return nil
	}
	if _, err := s.mu.cipher.WriteAt(data, m.Offset(i)); err != nil {
		return fmt.Errorf("store chunk %d: %w", i, err)
	}
	s.mu.have[i/8] |= 1 << (i % 8)
	if err := atomicfile.WriteFile(s.path("have"), s.mu.have, 0o600); err != nil {
		s.mu.have[i/8] &^= 1 << (i % 8)
		return fmt.Errorf("store chunk %d: %w", i, err)
	}
	s.mu.count++
	return nil
}

// chunk reads and re-verifies chunk i. A chunk that no longer matches its
// hash (damaged on disk) is dropped from the bitmap and reported as
// content.ErrCorrupt; the fetcher gets it again.
func (s *store) chunk(i int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mu.m
	if m == nil {
		return nil, errNoManifest
	}
	if !s.hasLocked(i) {
		return nil, fmt.Errorf("chunk %d not held", i)
	}
	buf := make([]byte, m.CipherLen(i))
	if _, err := s.mu.cipher.ReadAt(buf, m.Offset(i)); err != nil {
		return nil, fmt.Errorf("read chunk %d: %w", i, err)
	}
	if err := m.VerifyChunk(i, buf); err != nil {
		s.mu.have[i/8] &^= 1 << (i % 8)
		s.mu.count--
		_ = atomicfile.WriteFile(s.path("have"), s.mu.have, 0o600)
		return nil, err
	}
	return buf, nil
}

// cipherReader returns a reader over the whole ciphertext (only when
// complete).
func (s *store) cipherReader() (io.ReadCloser, error) {
	if !s.complete() {
		return nil, errors.New("ciphertext not complete")
	}
	return os.Open(s.path("cipher"))
}

func (s *store) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.cipher != nil {
		s.mu.cipher.Close()
		s.mu.cipher = nil
	}
}
