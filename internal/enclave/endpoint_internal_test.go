package enclave

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// socketPair returns both ends of a Unix socketpair as net.Conns, as the
// host and the enclave process have them.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// TestSendFromReaderNeverWaits fills the socket with frames sent as the
// reader goroutine sends them, while nobody reads the other end: every
// call must return (the reader would otherwise wait for the other side,
// which may be waiting for it), and the frames must then arrive whole,
// not interleaved with each other or with frames of blocking sends. (Their
// order is free: replies are matched by id.)
func TestSendFromReaderNeverWaits(t *testing.T) {
	a, b := socketPair(t)
	ep := newEndpoint(a, wire.KindEcall)
	if !ep.inlineReplies() {
		t.Skip("no raw socket on this platform")
	}
	// 64 frames of 64 KiB: far more than a socket buffer holds.
	const n, size = 64, 64 << 10
	payload := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	var failed sync.Map
	for i := 0; i < n; i++ {
		p := payload(i)
		ep.sendFromReader(wire.KindOcallReply, wire.OcLookup, uint64(i), func(buf []byte) []byte { return append(buf, p...) },
			func(err error) { failed.Store(i, err) })
	}
	// A blocking send queues behind them on the write lock.
	done := make(chan error, 1)
	go func() {
		done <- ep.send(wire.KindOcallReply, wire.OcLookup, n, func(buf []byte) []byte { return append(buf, payload(n)...) })
	}()
	r := bufio.NewReader(b)
	seen := map[uint64]bool{}
	for i := 0; i <= n; i++ {
		f, err := wire.ReadFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.ID > n || seen[f.ID] || !bytes.Equal(f.Payload, payload(int(f.ID))) {
			t.Fatalf("frame %d: id %d (seen before: %v), %d bytes", i, f.ID, seen[f.ID], len(f.Payload))
		}
		seen[f.ID] = true
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	failed.Range(func(k, v any) bool {
		t.Errorf("frame %v: %v", k, v)
		return true
	})
}
