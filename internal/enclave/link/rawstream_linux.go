package link

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
//
// One goroutine reads at a time, and one writes (the endpoint's reader,
// and whoever holds its write lock): the state of the call in progress in
// each direction lives here, with the callbacks made once, so that a read
// or a write allocates nothing.
type rawStream struct {
	rc syscall.RawConn

	rbuf   []byte
	rn     int
	rerrno syscall.Errno
	readFn func(fd uintptr) bool

	wbuf    []byte
	wn      int
	wwait   bool
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
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
	s := &rawStream{rc: rc}
	s.readFn = s.read1
	s.writeFn = s.write1
	return s
}

// read1 is the read callback: one read(2), retried on EINTR; false (wait
// for readiness, then call again) on EAGAIN.
func (s *rawStream) read1(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)))
		switch e {
		case 0:
			s.rn = int(r)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			s.rerrno = e
			return true
		}
	}
}

// Read reads what the socket holds, waiting until it holds something.
func (s *rawStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rbuf, s.rn, s.rerrno = p, 0, 0
	err := s.rc.Read(s.readFn)
	n, errno := s.rn, s.rerrno
	s.rbuf = nil
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

// write1 is the write callback: write(2) until all of wbuf is written or
// an error; on EAGAIN, wait for writability (false) or stop (true).
func (s *rawStream) write1(fd uintptr) bool {
	for s.wn < len(s.wbuf) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.wbuf[s.wn])), uintptr(len(s.wbuf)-s.wn))
		switch e {
		case 0:
			s.wn += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return !s.wwait
		default:
			s.werrno = e
			return true
		}
	}
	return true
}

// Write writes all of b, waiting for the socket to take it.
func (s *rawStream) Write(b []byte) (int, error) { return s.write(b, true) }

// writeNoWait writes what the socket takes at once and returns how much
// that was.
func (s *rawStream) writeNoWait(b []byte) (int, error) { return s.write(b, false) }

func (s *rawStream) write(b []byte, wait bool) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.wbuf, s.wn, s.wwait, s.werrno = b, 0, wait, 0
	err := s.rc.Write(s.writeFn)
	n, errno := s.wn, s.werrno
	s.wbuf = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, os.NewSyscallError("write", errno)
	}
	return n, nil
}
