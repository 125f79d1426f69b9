package enclave

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// rawStream reads and writes the boundary socket with raw, non-blocking
// read(2) and write(2) calls inside syscall.RawConn callbacks, and lets
// the Go netpoller do the waiting. A read or write through net.Conn
// enters the scheduler's syscall state (entersyscall/exitsyscall), which
// wakes the sysmon thread whenever it sleeps — and in a process that
// spends its time waiting for the other side of the boundary it always
// sleeps: profiles of the enclave benchmark showed those futex wake-ups
// at about 14% of the host's CPU. A non-blocking call on a socket
// returns at once (data or EAGAIN), so it needs no syscall state.
type rawStream struct {
	rc syscall.RawConn
}

// newRawStream returns the raw stream of conn, or nil if conn has no
// file descriptor (net.Pipe in tests): the endpoint then uses conn.
func newRawStream(conn io.ReadWriteCloser) *rawStream {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &rawStream{rc: rc}
}

// Read reads what the socket holds, waiting until it holds something.
func (s *rawStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case 0:
				n = int(r)
				return true
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait for readiness, then call again
			default:
				errno = e
				return true
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, waiting for the socket to take it.
func (s *rawStream) Write(b []byte) (int, error) { return s.write(b, true) }

// writeNoWait writes what the socket takes at once and returns how much
// that was.
func (s *rawStream) writeNoWait(b []byte) (int, error) { return s.write(b, false) }

func (s *rawStream) write(b []byte, wait bool) (int, error) {
	var n int
	var errno syscall.Errno
	err := s.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return !wait
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, os.NewSyscallError("write", errno)
	}
	return n, nil
}
