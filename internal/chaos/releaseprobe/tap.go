package releaseprobe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
)

// tap is an http.RoundTripper between the SDK and its transport that
// decodes the ReleaseService answers a client receives (Subscribe
// events, GetShares, GetPlaintext pieces) and records what they hold,
// when the client holds them. It reads the connect protocol the SDK
// speaks: a unary answer is one proto message; a stream is envelopes of
// a flags byte and a 4-byte big-endian length (flag 0x02: the end of
// stream, JSON; 0x01: compressed, which the SDK does not accept).
type tap struct {
	base    http.RoundTripper
	client  string
	role    Role
	peers   map[string]string // API address -> peer name
	record  func(Observation)
	fail    func(string)
	streams atomic.Int64
}

func (t *tap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	rpc, ok := strings.CutPrefix(req.URL.Path, "/"+foliov1connect.ReleaseServiceName+"/")
	if !ok {
		return resp, nil
	}
	peer := t.peers[req.URL.Host]
	if peer == "" {
		peer = req.URL.Host
	}
	var on func([]byte, time.Time) error
	stream := true
	switch rpc {
	case "Subscribe":
		on = func(b []byte, at time.Time) error {
			var m foliov1.SubscribeResponse
			if err := proto.Unmarshal(b, &m); err != nil {
				return err
			}
			switch m.GetType() {
			case foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE:
				t.record(Observation{Client: t.client, Role: t.role, Peer: peer, RPC: rpc, Kind: KindShare, At: at, Index: int(m.GetShareIndex())})
			case foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SCHEDULE:
				if s := m.GetStartAtUnixNano(); s > 0 {
					t.record(Observation{Client: t.client, Role: t.role, Peer: peer, RPC: rpc, Kind: KindStart, At: at, Start: time.Unix(0, s)})
				}
			}
			return nil
		}
	case "GetShares":
		stream = false
		on = func(b []byte, at time.Time) error {
			var m foliov1.GetSharesResponse
			if err := proto.Unmarshal(b, &m); err != nil {
				return err
			}
			for _, s := range m.GetShares() {
				t.record(Observation{Client: t.client, Role: t.role, Peer: peer, RPC: rpc, Kind: KindShare, At: at, Index: int(s.GetIndex())})
			}
			return nil
		}
	case "GetPlaintext":
		on = plaintextObserver(t.client, t.role, peer, int(t.streams.Add(1)), t.record)
	default:
		return resp, nil
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		t.fail(fmt.Sprintf("%s: %s answer from %s is %s-compressed: not observed", t.client, rpc, peer, enc))
		return resp, nil
	}
	if enc := resp.Header.Get("Connect-Content-Encoding"); enc != "" && enc != "identity" {
		t.fail(fmt.Sprintf("%s: %s stream from %s is %s-compressed: not observed", t.client, rpc, peer, enc))
		return resp, nil
	}
	resp.Body = &tapBody{rc: resp.Body, stream: stream, on: on, fail: func(err error) {
		t.fail(fmt.Sprintf("%s: observing %s from %s: %v", t.client, rpc, peer, err))
	}}
	return resp, nil
}

// plaintextObserver returns the decoder of one GetPlaintext stream: it
// counts the clear bytes received (those before the tail offset of the
// first message) and records each total, and the tail key.
func plaintextObserver(client string, role Role, peer string, stream int, record func(Observation)) func([]byte, time.Time) error {
	var got int64
	tailAt := int64(-1)
	return func(b []byte, at time.Time) error {
		var m foliov1.GetPlaintextResponse
		if err := proto.Unmarshal(b, &m); err != nil {
			return err
		}
		observePiece(&m, &got, &tailAt, func(o Observation) {
			o.Client, o.Role, o.Peer, o.RPC, o.At, o.Stream = client, role, peer, "GetPlaintext", at, stream
			record(o)
		})
		return nil
	}
}

// observePiece accounts one plaintext message: got is the bytes received
// so far, tailAt the tail offset (-1 until the first message says it).
func observePiece(m *foliov1.GetPlaintextResponse, got, tailAt *int64, record func(Observation)) {
	if *tailAt < 0 {
		*tailAt = m.GetTailOffset()
	}
	if len(m.GetTailKey()) > 0 {
		record(Observation{Kind: KindTailKey})
		return
	}
	n := int64(len(m.GetData()))
	if n == 0 {
		return
	}
	*got += n
	record(Observation{Kind: KindPlaintext, Bytes: min(*got, *tailAt)})
}

// maxTapBuffer bounds what a tapped body buffers (a whole unary answer
// or one envelope): a chunk piece is at most 64 KiB, a message 16 MiB.
const maxTapBuffer = 32 << 20

// tapBody passes a response body through, decoding its messages as they
// complete.
type tapBody struct {
	rc     io.ReadCloser
	stream bool
	on     func([]byte, time.Time) error
	fail   func(error)
	buf    []byte
	broken bool
}

func (b *tapBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if !b.broken {
		at := time.Now()
		b.buf = append(b.buf, p[:n]...)
		if b.stream {
			b.envelopes(at)
		} else if errors.Is(err, io.EOF) {
			b.decode(b.buf, at)
			b.buf = nil
		}
		if len(b.buf) > maxTapBuffer {
			b.stop(fmt.Errorf("more than %d bytes buffered", maxTapBuffer))
		}
	}
	return n, err
}

func (b *tapBody) envelopes(at time.Time) {
	for !b.broken && len(b.buf) >= 5 {
		flags, size := b.buf[0], binary.BigEndian.Uint32(b.buf[1:5])
		if uint64(size) > maxTapBuffer {
			b.stop(fmt.Errorf("envelope of %d bytes", size))
			return
		}
		if len(b.buf) < 5+int(size) {
			return
		}
		msg := b.buf[5 : 5+int(size)]
		switch {
		case flags&0x02 != 0: // end of stream (JSON): nothing held
		case flags&0x01 != 0:
			b.stop(errors.New("compressed message"))
			return
		default:
			b.decode(msg, at)
		}
		b.buf = b.buf[5+int(size):]
	}
}

func (b *tapBody) decode(msg []byte, at time.Time) {
	if err := b.on(msg, at); err != nil {
		b.stop(err)
	}
}

func (b *tapBody) stop(err error) {
	b.broken, b.buf = true, nil
	b.fail(err)
}

func (b *tapBody) Close() error { return b.rc.Close() }
