// Package link carries the enclave boundary protocol (package wire) over
// one stream, a Unix socketpair between the peer and its enclave process.
// It is the one piece of the boundary that both sides run: the host
// (package enclave) sends ecalls and answers ocalls through an Endpoint,
// the enclave process (package trusted) answers ecalls and sends ocalls
// through another. It holds no key, no plaintext and no policy: only
// frames, request ids and the wait for replies.
//
// An Endpoint multiplexes requests in both directions over the stream.
// Its reader goroutine (Run) hands replies to the requests waiting for
// them, by id, and every other frame to the side's handler, which must
// not block. Call order:
//
//	ep := link.NewEndpoint(conn, wire.KindEcall, &counters) // host side
//	ep.EnableBatching(64, time.Millisecond)                  // host side, optional
//	go ep.Run(handle)                                         // the reader
//	f, err := ep.Request(ctx, wire.OpPing, body, nil, nil)    // any goroutine
//	ep.Close()                                                // Run returns; Done is closed
//
// Batching (RequestBatched, host side): simulate ecalls of many callers
// share crossings, at most two batch frames in flight (batch.go). On
// Linux the stream is driven with raw non-blocking reads and writes, so
// that a process waiting for the other side does not keep waking the Go
// scheduler's sysmon thread (rawstream_linux.go).
//
// The enclave process finds its end of the socketpair on ChildFD.
package link

// ChildFD is the file descriptor on which the enclave process finds its
// end of the socketpair: the host passes it as the first of
// exec.Cmd.ExtraFiles, which the child gets as descriptor 3.
const ChildFD = 3
