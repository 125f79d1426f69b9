package p2p

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"flag"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/identity"
)

// The benchmarks compare one stream over a session (TLS 1.3 + yamux +
// stream header) with a plain TLS 1.3 connection between the same two
// certificates, in the same run:
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/p2p/
//
// The "interleaved" sub-benchmarks alternate the two transports within
// one loop, so both see the same load on a shared machine, and report
// both figures and their ratio ("overhead" = the share of throughput the
// session costs; "session/plain" = round-trip time ratio).

const (
	benchChunk = 64 << 10
	benchBatch = 4 << 20
)

// benchWindow sets both hosts' StreamWindowBytes, to compare windows:
//
//	go test -run '^$' -bench Throughput ./internal/p2p/ -args -p2p.window=1048576
var benchWindow = flag.Uint("p2p.window", 0, "StreamWindowBytes of the benchmark hosts (0: the default)")

type benchPair struct {
	a, b  *testHost
	plain string // address of a plain TLS server run with b's certificate
	conf  *tls.Config
}

// batches acknowledges every benchBatch bytes with one byte.
func batches(ctx context.Context, s *Stream) { ackBatches(s) }

func ackBatches(rw io.ReadWriter) {
	buf := make([]byte, benchBatch)
	for {
		if _, err := io.ReadFull(rw, buf); err != nil {
			return
		}
		if _, err := rw.Write([]byte{1}); err != nil {
			return
		}
	}
}

// sink reads a stream to its end and answers with the byte count.
func sink(ctx context.Context, s *Stream) {
	n, _ := io.Copy(io.Discard, s)
	_, _ = s.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func newBenchPair(b *testing.B) *benchPair {
	c := newConsortium(b, 1)
	handlers := map[string]Handler{"echo": echo, "sink": sink, "batch": batches}
	window := func(o *Options) { o.StreamWindowBytes = uint32(*benchWindow) }
	p := &benchPair{
		a: startHost(b, c, issue(b, c, 0, "peer0.org1", identity.RolePeer), handlers, window),
		b: startHost(b, c, issue(b, c, 0, "peer1.org1", identity.RolePeer), handlers, window),
	}
	must(b, p.a.AddPeer(p.b.spec()))
	p.a.waitUp(b, p.b)
	p.conf = newTLSConfig(staticTLS(p.a.creds.TLS), c.Verifier)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", newTLSConfig(staticTLS(p.b.creds.TLS), c.Verifier))
	must(b, err)
	p.plain = ln.Addr().String()
	var wg sync.WaitGroup
	b.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				var mode [1]byte
				if _, err := io.ReadFull(conn, mode[:]); err != nil {
					return
				}
				if mode[0] == 'b' {
					ackBatches(conn)
					return
				}
				if mode[0] == 's' { // sink
					n, _ := io.Copy(io.Discard, conn)
					_, _ = conn.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
					return
				}
				for { // echo frames
					m, err := readFrame(conn, 1<<20)
					if err != nil || writeFrame(conn, m) != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *benchPair) dialPlain(b *testing.B, mode byte) *tls.Conn {
	raw, err := net.Dial("tcp", p.plain)
	must(b, err)
	tc := tls.Client(raw, p.conf)
	must(b, tc.Handshake())
	_, err = tc.Write([]byte{mode})
	must(b, err)
	return tc
}

func BenchmarkThroughput(b *testing.B) {
	p := newBenchPair(b)
	buf := make([]byte, benchChunk)
	// finish closes the writing half and waits for the receiver's count,
	// so the timing covers delivery, not just buffering.
	finish := func(b *testing.B, w io.Writer, closeWrite func() error, r io.Reader) {
		must(b, closeWrite())
		var n [8]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			b.Fatal(err)
		}
		if got := binary.BigEndian.Uint64(n[:]); got != uint64(b.N*benchChunk) {
			b.Fatalf("receiver counted %d bytes, sent %d", got, b.N*benchChunk)
		}
	}
	b.Run("session", func(b *testing.B) {
		st, err := p.a.OpenStream(context.Background(), p.b.ID(), "sink")
		must(b, err)
		b.SetBytes(benchChunk)
		b.ResetTimer()
		for range b.N {
			if _, err := st.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		finish(b, st, st.Close, st)
	})
	b.Run("plain-tls", func(b *testing.B) {
		tc := p.dialPlain(b, 's')
		defer tc.Close()
		b.SetBytes(benchChunk)
		b.ResetTimer()
		for range b.N {
			if _, err := tc.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		finish(b, tc, tc.CloseWrite, tc)
	})
	b.Run("interleaved", func(b *testing.B) {
		// Alternate 4 MiB batches (each acknowledged by the receiver) on
		// the session and on plain TLS, so both see the same machine load.
		st, err := p.a.OpenStream(context.Background(), p.b.ID(), "batch")
		must(b, err)
		defer st.Close()
		tc := p.dialPlain(b, 'b')
		defer tc.Close()
		batch := func(w io.ReadWriter) time.Duration {
			start := time.Now()
			for range benchBatch / benchChunk {
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			var ack [1]byte
			if _, err := io.ReadFull(w, ack[:]); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		var session, plain time.Duration
		b.SetBytes(2 * benchBatch)
		for range b.N {
			session += batch(st)
			plain += batch(tc)
		}
		mbps := func(d time.Duration) float64 { return float64(b.N) * benchBatch / d.Seconds() / 1e6 }
		b.ReportMetric(mbps(session), "session-MB/s")
		b.ReportMetric(mbps(plain), "plain-MB/s")
		b.ReportMetric(1-float64(plain)/float64(session), "overhead")
	})
}

func BenchmarkRoundTrip(b *testing.B) {
	p := newBenchPair(b)
	msg := make([]byte, 64)
	b.Run("session", func(b *testing.B) {
		st, err := p.a.OpenStream(context.Background(), p.b.ID(), "echo")
		must(b, err)
		defer st.Close()
		b.ResetTimer()
		for range b.N {
			if err := st.WriteMsg(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := st.ReadMsg(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain-tls", func(b *testing.B) {
		tc := p.dialPlain(b, 'e')
		defer tc.Close()
		b.ResetTimer()
		for range b.N {
			if err := writeFrame(tc, msg); err != nil {
				b.Fatal(err)
			}
			if _, err := readFrame(tc, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		// Alternate round trips on the session and on plain TLS.
		st, err := p.a.OpenStream(context.Background(), p.b.ID(), "echo")
		must(b, err)
		defer st.Close()
		tc := p.dialPlain(b, 'e')
		defer tc.Close()
		var session, plain time.Duration
		for range b.N {
			start := time.Now()
			if err := st.WriteMsg(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := st.ReadMsg(); err != nil {
				b.Fatal(err)
			}
			mid := time.Now()
			if err := writeFrame(tc, msg); err != nil {
				b.Fatal(err)
			}
			if _, err := readFrame(tc, 1<<20); err != nil {
				b.Fatal(err)
			}
			session, plain = session+mid.Sub(start), plain+time.Since(mid)
		}
		b.ReportMetric(float64(session.Microseconds())/float64(b.N), "session-µs/rtt")
		b.ReportMetric(float64(plain.Microseconds())/float64(b.N), "plain-µs/rtt")
		b.ReportMetric(float64(session)/float64(plain), "session/plain")
	})
	b.Run("session-new-stream", func(b *testing.B) {
		// One stream per request: what a caller pays for OpenStream.
		for range b.N {
			st, err := p.a.OpenStream(context.Background(), p.b.ID(), "echo")
			if err != nil {
				b.Fatal(err)
			}
			if err := st.WriteMsg(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := st.ReadMsg(); err != nil {
				b.Fatal(err)
			}
			_ = st.Close()
		}
	})
}
