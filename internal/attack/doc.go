// Package attack is a set of hostile clients — decompression bombs, HTTP/2
// stream floods, slow-loris variants, connection floods — and a resident
// memory probe, for tests that check every listener bounds its input.
//
// It is test support code, but nothing in it is simulated: every attack
// dials a real TCP connection, completes (or withholds) a real TLS
// handshake and speaks real HTTP/1.1 or real HTTP/2 frames (written with
// golang.org/x/net/http2.Framer and hpack). A test starts the listener
// under test with explicit limits, runs one attack against it and asserts
// the observable outcome: streams refused, a connection cut after the
// header timeout, a bounded resident set.
//
// # Contract
//
//   - Every attack dials only the address it is given (tests use
//     127.0.0.1) and takes a context; cancelling it closes the attack's
//     connections and the call returns promptly.
//   - Every attack stops by itself: it is bounded in count (n streams, n
//     connections) and in time (a settle, hold or maximum duration, plus
//     per-write deadlines so a server that stops reading cannot block it).
//   - No goroutine outlives a call, except the sampler started by
//     [PeakRSS], which runs until its stop function is called.
//   - Results report what the server did (refusals, status codes, GOAWAY,
//     who closed the connection and when), never a verdict: the test
//     decides what its listener should have done.
//   - The tls.Config passed in must not be nil; it is cloned, and the
//     attack sets NextProtos itself where the protocol matters (h2 for
//     [StreamFlood] and [SlowBodyH2], http/1.1 for [SlowHeaders] and
//     [SlowBody]).
//
// # Attacks
//
//   - [GzipBomb], [GzipBombOfSize]: a gzip stream of zeros, built in
//     chunks. Deflate at BestCompression turns zeros into about 1029:1
//     (measured: 2 GiB of zeros -> 2,087,220 bytes, about 2.5 s per GiB on
//     one core), so a 2 MiB request body inflates to 2 GiB.
//   - [StreamFlood]: one HTTP/2 connection opening n streams, each a
//     HEADERS frame without END_STREAM, ignoring the server's
//     SETTINGS_MAX_CONCURRENT_STREAMS.
//   - [SlowLoris]: one connection trickling a request (headers, body, an
//     HTTP/2 body) or holding a connection idle before or after the TLS
//     handshake, until the server cuts it or a maximum duration passes.
//   - [ConnFlood]: n concurrent TLS connections held idle.
//   - [RSS], [PeakRSS]: the resident set of a process, from /proc (Linux).
package attack
