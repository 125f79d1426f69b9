//go:build unix

package attack

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the process's soft RLIMIT_NOFILE towards want, up
// to the hard limit, if it is lower. It fails with ErrFileLimit if the
// resulting limit is below need. The limit is process-wide and stays
// raised.
func raiseFileLimit(need, want uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("attack: read file descriptor limit: %w", err)
	}
	if lim.Cur < want && lim.Cur < lim.Max {
		raised := syscall.Rlimit{Cur: min(want, lim.Max), Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	if lim.Cur < need {
		return fmt.Errorf("%w: need %d file descriptors, the limit is %d (hard %d; raise it with ulimit -n)",
			ErrFileLimit, need, lim.Cur, lim.Max)
	}
	return nil
}
