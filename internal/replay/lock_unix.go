//go:build unix

package replay

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// readLock takes a shared POSIX lock on path, the lock file of a Pebble
// store, which Pebble takes exclusively while the store is open. A missing
// file is not created (no lock is needed: no Pebble opened the store).
func readLock(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	spec := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &spec); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
