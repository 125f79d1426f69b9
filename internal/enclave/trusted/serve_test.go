package trusted_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// TestServeRejectsGarbage: an enclave process fed frames that are not the
// protocol answers errors or stops; it never panics.
func TestServeRejectsGarbage(t *testing.T) {
	for name, frames := range map[string][][]byte{
		"ecall before init": {frame(wire.KindEcall, wire.OpSimulate, 1, []byte{1, 2, 3})},
		"bad init":          {frame(wire.KindEcall, wire.OpInit, 1, []byte{0xff})},
		"unknown kind":      {append([]byte{0, 0, 0, 10, 9, 0}, make([]byte, 8)...)},
		"huge length":       {{0xff, 0xff, 0xff, 0xff}},
	} {
		t.Run(name, func(t *testing.T) {
			host, child := net.Pipe()
			done := make(chan error, 1)
			go func() { done <- trusted.Serve(context.Background(), child, trusted.ServeOptions{}) }()
			go func() { // drain replies
				for {
					if _, err := wire.ReadFrame(host); err != nil {
						return
					}
				}
			}()
			for _, f := range frames {
				host.SetWriteDeadline(time.Now().Add(5 * time.Second))
				host.Write(f)
			}
			host.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}

func frame(kind, op uint8, id uint64, payload []byte) []byte {
	f, _ := wire.Finish(append(wire.Begin(nil, kind, op, id), payload...))
	return f
}
