package localnet

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// SupervisorSignals are the signals on which a foreground `folio network
// up` stops every node: Ctrl-C, a plain kill, the terminal closing, and its
// output pipe closing. The caller must catch SIGPIPE with signal.Notify: Go
// otherwise exits at once, with the nodes left running, when a write to fd 1
// or 2 hits a closed pipe. Once caught, such a write fails with EPIPE and
// the signal arrives on the channel instead.
var SupervisorSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}

// OutputBroken reports whether any of the file descriptors is a pipe or
// socket whose reader has gone, or a terminal that hung up. A caught
// SIGPIPE does not say which descriptor failed: with signal.Notify it is
// also raised by a write to any closed socket (an HTTP probe of a node that
// just died), which must not stop the network; the supervisor checks its
// standard output and error with this first.
func OutputBroken(fds ...int) bool {
	for _, fd := range fds {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(p, 0)
		if err != nil || n == 0 {
			continue
		}
		if p[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return true
		}
	}
	return false
}
