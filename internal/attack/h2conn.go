package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Flow-control window the attacks grant the server, per stream (by
// SETTINGS_INITIAL_WINDOW_SIZE) and for the connection (by WINDOW_UPDATE),
// so responses never stall on us and we never send WINDOW_UPDATE again.
const ourWindow = 1 << 30

// dataStream is the only stream the attacks send DATA on (SlowBodyH2's),
// so the only one whose send window is tracked.
const dataStream = 1

// ctrlQueue is how many control replies (SETTINGS and PING
// acknowledgements) the reader may queue for the sending goroutine; more
// are dropped, as a hostile client may.
const ctrlQueue = 64

// GoAway is a GOAWAY frame received from the server.
type GoAway struct {
	Code         http2.ErrCode
	LastStreamID uint32
	Debug        string // debug data, as sent
}

// ctrlReply is a control frame the reader wants written: a SETTINGS
// acknowledgement, or a PING acknowledgement carrying data.
type ctrlReply struct {
	settingsAck bool
	ping        [8]byte
}

// peerState is what the reader goroutine learns about the connection.
// The reader owns it; others read it only after readerDone is closed.
type peerState struct {
	maxStreams    uint32 // SETTINGS_MAX_CONCURRENT_STREAMS
	maxStreamsSet bool
	initialWindow int64 // SETTINGS_INITIAL_WINDOW_SIZE, default 65535
	goAway        *GoAway
	closedByPeer  bool      // the read side ended before we closed
	closedAt      time.Time // when the read side ended
	readErr       error     // why it ended
}

// h2Conn is the client side of one HTTP/2 connection as the attacks use
// it. The goroutine that called dialH2 (the owner) owns the write side:
// cw, bw, fr's Write methods, henc and hbuf; it must call drainCtrl often
// and close exactly once. The reader goroutine owns fr's ReadFrame and
// peer until readerDone is closed; the atomics are shared.
type h2Conn struct {
	conn      *tls.Conn
	connected time.Time // TCP connection established
	cw        *countWriter
	bw        *bufio.Writer
	fr        *http2.Framer
	henc      *hpack.Encoder
	hbuf      bytes.Buffer

	ctrl       chan ctrlReply
	readerDone chan struct{}
	stopWatch  func()

	closing    atomic.Bool  // set before the owner closes conn
	goAwaySeen atomic.Bool  // a GOAWAY arrived
	goAwayLast atomic.Int64 // its last stream ID
	// sendWindow is the connection's send window and streamWindow that of
	// dataStream, the only stream that ever sends DATA.
	sendWindow   atomic.Int64
	streamWindow atomic.Int64

	peer peerState
}

// streamFrameFunc handles a stream-level frame (HEADERS as
// *http2.MetaHeadersFrame, DATA, RST_STREAM) or a GOAWAY on the reader
// goroutine. It must not block and must not retain the frame.
type streamFrameFunc func(f http2.Frame)

// dialH2 dials addr, requires ALPN h2, writes the client preface, our
// SETTINGS and a connection WINDOW_UPDATE, and starts the reader, which
// passes stream frames to onStream. Cancelling ctx closes the connection.
func dialH2(ctx context.Context, addr string, conf *tls.Config, onStream streamFrameFunc) (*h2Conn, error) {
	conn, connected, err := dialTLS(ctx, addr, conf, []string{"h2"})
	if isNoALPN(err) {
		return nil, fmt.Errorf("%w: %w", ErrNoH2, err)
	}
	if err != nil {
		return nil, err
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		_ = conn.Close()
		return nil, fmt.Errorf("%w (negotiated %q)", ErrNoH2, p)
	}
	c := &h2Conn{
		conn:       conn,
		connected:  connected,
		ctrl:       make(chan ctrlReply, ctrlQueue),
		readerDone: make(chan struct{}),
	}
	c.cw = &countWriter{w: conn}
	c.bw = bufio.NewWriterSize(c.cw, 32<<10)
	c.fr = http2.NewFramer(c.bw, conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.peer.initialWindow = 65535
	c.sendWindow.Store(65535)
	c.streamWindow.Store(65535)

	_ = conn.SetWriteDeadline(time.Now().Add(dialTimeout))
	if err := c.writePreface(); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("attack: write HTTP/2 preface: %w", err)
	}
	c.stopWatch = afterDone(ctx, func() {
		c.closing.Store(true)
		_ = conn.NetConn().Close()
	})
	go c.readLoop(onStream)
	return c, nil
}

// writePreface writes and flushes the client preface, our SETTINGS and a
// connection WINDOW_UPDATE. Owner only.
func (c *h2Conn) writePreface() error {
	if _, err := c.bw.WriteString(http2.ClientPreface); err != nil {
		return err
	}
	err := c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: ourWindow},
	)
	if err != nil {
		return err
	}
	if err := c.fr.WriteWindowUpdate(0, ourWindow); err != nil {
		return err
	}
	return c.bw.Flush()
}

// readLoop reads frames until the connection fails or is closed, answers
// SETTINGS and PING through ctrl, records connection-level state in
// c.peer and passes everything else to onStream.
func (c *h2Conn) readLoop(onStream streamFrameFunc) {
	defer close(c.readerDone)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				continue // a malformed frame on one stream; the connection goes on
			}
			c.peer.closedAt = time.Now()
			c.peer.readErr = err
			c.peer.closedByPeer = !c.closing.Load()
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			_ = f.ForeachSetting(func(s http2.Setting) error {
				switch s.ID {
				case http2.SettingMaxConcurrentStreams:
					c.peer.maxStreams, c.peer.maxStreamsSet = s.Val, true
				case http2.SettingInitialWindowSize:
					c.streamWindow.Add(int64(s.Val) - c.peer.initialWindow)
					c.peer.initialWindow = int64(s.Val)
				}
				return nil
			})
			c.queue(ctrlReply{settingsAck: true})
		case *http2.PingFrame:
			if !f.IsAck() {
				c.queue(ctrlReply{ping: f.Data})
			}
		case *http2.WindowUpdateFrame:
			switch f.StreamID {
			case 0:
				c.sendWindow.Add(int64(f.Increment))
			case dataStream:
				c.streamWindow.Add(int64(f.Increment))
			}
		case *http2.GoAwayFrame:
			c.peer.goAway = &GoAway{Code: f.ErrCode, LastStreamID: f.LastStreamID, Debug: string(f.DebugData())}
			c.goAwayLast.Store(int64(f.LastStreamID))
			c.goAwaySeen.Store(true)
			onStream(f)
		case *http2.MetaHeadersFrame, *http2.DataFrame, *http2.RSTStreamFrame:
			onStream(f)
		}
	}
}

// queue hands a control reply to the owner without ever blocking the
// reader: if the owner is stuck in a write, a full queue drops the reply.
func (c *h2Conn) queue(r ctrlReply) {
	select {
	case c.ctrl <- r:
	default:
	}
}

// writeCtrl writes one queued control reply (not flushed).
func (c *h2Conn) writeCtrl(r ctrlReply) error {
	if r.settingsAck {
		return c.fr.WriteSettingsAck()
	}
	return c.fr.WritePing(true, r.ping)
}

// drainCtrl writes every queued control reply and flushes if it wrote
// any. Owner only.
func (c *h2Conn) drainCtrl() error {
	wrote := false
	for {
		select {
		case r := <-c.ctrl:
			if err := c.writeCtrl(r); err != nil {
				return err
			}
			wrote = true
		default:
			if wrote {
				return c.bw.Flush()
			}
			return nil
		}
	}
}

// headerField is one header of a request, in wire order.
type headerField struct{ name, value string }

// writeHeaders hpack-encodes fields and writes them as a HEADERS frame,
// followed by CONTINUATION frames if the block exceeds the 16 KiB frame
// size every peer accepts (not flushed). Owner only.
func (c *h2Conn) writeHeaders(streamID uint32, fields []headerField, endStream bool) error {
	const maxFrame = 16 << 10
	c.hbuf.Reset()
	for _, f := range fields {
		if err := c.henc.WriteField(hpack.HeaderField{Name: f.name, Value: f.value}); err != nil {
			return err
		}
	}
	block := c.hbuf.Bytes()
	n := min(len(block), maxFrame)
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      streamID,
		BlockFragment: block[:n],
		EndStream:     endStream,
		EndHeaders:    n == len(block),
	})
	for block = block[n:]; err == nil && len(block) > 0; block = block[n:] {
		n = min(len(block), maxFrame)
		err = c.fr.WriteContinuation(streamID, n == len(block), block[:n])
	}
	return err
}

// close stops the context watcher, closes the connection and waits for
// the reader, after which c.peer may be read. Owner only, once.
func (c *h2Conn) close() {
	c.stopWatch()
	c.closing.Store(true)
	// Closing the TCP connection directly skips TLS close_notify, which
	// could block on a server that stopped reading.
	_ = c.conn.NetConn().Close()
	<-c.readerDone
}
