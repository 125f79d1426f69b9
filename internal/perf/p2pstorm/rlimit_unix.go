//go:build unix

package p2pstorm

import (
	"fmt"
	"syscall"
)

// ensureFileLimit raises RLIMIT_NOFILE to at least need if it is lower:
// the soft limit up to the hard limit, and the hard limit too when the
// process may (root).
func ensureFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read file descriptor limit: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	want := lim
	want.Cur = need
	if want.Max < need {
		want.Max = need
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
		return nil
	}
	want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil || lim.Max < need {
		return fmt.Errorf("need %d file descriptors, the limit is %d (raise it with ulimit -n)", need, lim.Max)
	}
	return nil
}
