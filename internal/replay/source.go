package replay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/ledger"
)

// Source yields a chain's blocks from block 0 on, as a peer stored them
// (with the validation codes and the state root it recorded in each
// block's metadata).
type Source interface {
	// Next returns the next block; io.EOF after the last one.
	Next() (*foliov1.Block, error)
	// IndexedRoot returns the state root the source's ledger recorded for
	// block num in its root index (docs/ledger.md §1, lg/r/), apart from
	// the block's metadata; nil when the source has no index (a block
	// file).
	IndexedRoot(num uint64) ([]byte, error)
	// Height is the number of blocks, 0 when not known in advance.
	Height() uint64
	// String names the source for people.
	String() string
	Close() error
}

// MaxBlockBytes bounds one block of a block file (a larger length prefix
// is refused as a damaged file before anything is allocated).
const MaxBlockBytes = 256 << 20

// A block file is a sequence of blocks 0, 1, 2, ..., each a marshalled
// foliov1.Block preceded by its length as an unsigned varint (the
// length-delimited format of google.golang.org/protobuf/encoding/protodelim
// and of Java's writeDelimitedTo). Blocks are stored as the peer holds
// them, metadata included.

// Writer writes a block file.
type Writer struct {
	w    *bufio.Writer
	next uint64
}

// NewWriter returns a Writer writing to w; blocks must come in order from
// block 0.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 1<<20)} }

// Write appends block b.
func (w *Writer) Write(b *foliov1.Block) error {
	if n := b.GetHeader().GetNumber(); b.GetHeader() == nil || n != w.next {
		return fmt.Errorf("block file: got block %d, expected block %d", n, w.next)
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	if err != nil {
		return fmt.Errorf("block file: block %d: %w", w.next, err)
	}
	if len(data) > MaxBlockBytes {
		return fmt.Errorf("block file: block %d is %d bytes, over the %d-byte limit", w.next, len(data), MaxBlockBytes)
	}
	if _, err := w.w.Write(binary.AppendUvarint(nil, uint64(len(data)))); err != nil {
		return err
	}
	if _, err := w.w.Write(data); err != nil {
		return err
	}
	w.next++
	return nil
}

// Count is the number of blocks written.
func (w *Writer) Count() uint64 { return w.next }

// Flush writes buffered data to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// FileSource reads a block file.
type FileSource struct {
	path string
	f    *os.File
	r    *bufio.Reader
	next uint64
}

// OpenFile opens a block file written by Writer (`folio ledger export`).
func OpenFile(path string) (*FileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &FileSource{path: path, f: f, r: bufio.NewReaderSize(f, 1<<20)}, nil
}

// Next reads the next block.
func (s *FileSource) Next() (*foliov1.Block, error) {
	var b foliov1.Block
	err := protodelim.UnmarshalOptions{MaxSize: MaxBlockBytes}.UnmarshalFrom(s.r, &b)
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("the file ends inside the block (truncated): %w", err)
		}
		return nil, fmt.Errorf("%s: block %d: %w", s.path, s.next, err)
	}
	if b.GetHeader().GetNumber() != s.next || b.Header == nil {
		return nil, fmt.Errorf("%s: entry %d holds block %d: not a block file of one chain from block 0", s.path, s.next, b.GetHeader().GetNumber())
	}
	s.next++
	return &b, nil
}

// IndexedRoot: a block file has no root index.
func (s *FileSource) IndexedRoot(uint64) ([]byte, error) { return nil, nil }

// Height is not known in advance.
func (s *FileSource) Height() uint64 { return 0 }

func (s *FileSource) String() string { return "block file " + s.path }

// Close closes the file.
func (s *FileSource) Close() error { return s.f.Close() }

// LedgerSource reads a copy of a stopped peer's ledger.
type LedgerSource struct {
	dir  string // the peer's data dir, as given
	copy string
	led  *ledger.Ledger
	next uint64
}

// OpenDataDir opens the ledger of a stopped peer: dataDir is the peer's
// data_dir (holding db/) or its db directory. The peer's files are only
// read: its database is copied into workDir (which must exist) and the
// copy is opened, since opening a Pebble store writes to it. The copy
// costs the database's size in workDir. A database in use (its LOCK held
// by a running peer) is refused: a copy taken under a running peer could
// be torn.
func OpenDataDir(dataDir, workDir string, log *slog.Logger) (*LedgerSource, error) {
	db, err := findDB(dataDir)
	if err != nil {
		return nil, err
	}
	cp := filepath.Join(workDir, "source-db")
	if err := copyDB(db, cp); err != nil {
		return nil, err
	}
	led, err := ledger.Open(cp, ledger.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open the ledger of %s (a copy of %s): %w (is it a peer's data dir? an orderer holds no ledger)", dataDir, db, err)
	}
	return &LedgerSource{dir: dataDir, copy: cp, led: led}, nil
}

// findDB finds the Pebble directory of a data dir.
func findDB(dataDir string) (string, error) {
	if fi, err := os.Stat(dataDir); err != nil {
		return "", err
	} else if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dataDir)
	}
	for _, dir := range []string{filepath.Join(dataDir, "db"), dataDir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "MANIFEST-") {
				return dir, nil
			}
		}
	}
	return "", fmt.Errorf("no ledger database in %s: give a peer's data_dir (it holds db/) or its db directory", dataDir)
}

// copyDB copies every file of the Pebble directory src but its LOCK into
// dst, holding a shared lock on src's LOCK meanwhile: a running peer holds
// it exclusively (the copy is refused), and a peer starting during the
// copy fails to take it. Pebble's own Lock would truncate the file; this
// one opens it read-only and never creates it.
func copyDB(src, dst string) error {
	unlock, err := readLock(filepath.Join(src, "LOCK"))
	if err != nil {
		return fmt.Errorf("the database %s is in use, by a running peer: stop the peer first (folio network stop NAME), or export its chain from its API (folio ledger export --peer NAME): %w", src, err)
	}
	defer unlock()
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case rel == "LOCK" || !d.Type().IsRegular():
			return nil
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// Next returns the next stored block.
func (s *LedgerSource) Next() (*foliov1.Block, error) {
	if s.next >= s.led.Height() {
		return nil, io.EOF
	}
	b, err := s.led.Blocks().Block(s.next)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	s.next++
	return b, nil
}

// IndexedRoot returns the root the peer's ledger recorded for block num.
func (s *LedgerSource) IndexedRoot(num uint64) ([]byte, error) { return s.led.StateRoot(num) }

// Height is the peer's height.
func (s *LedgerSource) Height() uint64 { return s.led.Height() }

func (s *LedgerSource) String() string { return "the ledger of data dir " + s.dir }

// Close closes the copy (the caller removes the work directory).
func (s *LedgerSource) Close() error { return s.led.Close() }

// Copy writes every block of src to w (`folio ledger export --data-dir`)
// and returns how many it wrote.
func Copy(src Source, w *Writer) (uint64, error) {
	for {
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			return w.Count(), w.Flush()
		}
		if err != nil {
			return w.Count(), err
		}
		if err := w.Write(b); err != nil {
			return w.Count(), err
		}
	}
}
