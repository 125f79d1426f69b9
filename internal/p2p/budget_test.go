package p2p

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// frameOut is a frame as the multiplexer sees it through the filter.
type frameOut struct {
	typ   uint8
	flags uint16
	id    uint32
	len   uint32
}

func (f frameOut) String() string { return fmt.Sprintf("%d/%d/%d/%d", f.typ, f.flags, f.id, f.len) }

func yamuxFrame(typ uint8, flags uint16, id uint32, body int) []byte {
	h := make([]byte, yamuxHeaderLen, yamuxHeaderLen+body)
	h[1] = typ
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint32(h[4:], id)
	binary.BigEndian.PutUint32(h[8:], uint32(body))
	if typ == yamuxTypeData {
		h = append(h, make([]byte, body)...)
	}
	return h
}

// bytesConn is a connection that only reads, from r.
type bytesConn struct {
	net.Conn
	r io.Reader
}

func (c *bytesConn) Read(p []byte) (int, error)      { return c.r.Read(p) }
func (c *bytesConn) SetReadDeadline(time.Time) error { return nil }

// filtered sends raw frames through a filtering watchedConn and returns
// the frames the multiplexer would read, and the error that ended them.
func filtered(t *testing.T, rx *recvBuffers, frames ...[]byte) ([]frameOut, error) {
	t.Helper()
	var in []byte
	for _, f := range frames {
		in = append(in, f...)
	}
	wc := &watchedConn{Conn: &bytesConn{r: bytes.NewReader(in)}, idle: time.Second, write: time.Second, rx: rx}
	var out []frameOut
	for {
		var h [yamuxHeaderLen]byte
		if _, err := io.ReadFull(wc, h[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
		f := frameOut{h[1], binary.BigEndian.Uint16(h[2:]), binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])}
		out = append(out, f)
		if f.typ == yamuxTypeData {
			if _, err := io.CopyN(io.Discard, wc, int64(f.len)); err != nil {
				return out, err
			}
		}
	}
}

func describe(fs []frameOut) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.String()
	}
	return strings.Join(s, " ")
}

// TestFilterPieces: data frames reach the multiplexer in pieces of at most
// rxPiece bytes, SYN and ACK on the first, FIN and RST on the last; other
// frames pass as they are; the stream table follows the flags.
func TestFilterPieces(t *testing.T) {
	rx := newRecvBuffers(32<<20, time.Second, 8, time.Second)
	got, err := filtered(t, rx,
		yamuxFrame(yamuxTypeWindowUpdate, yamuxFlagSYN, 1, 0),
		yamuxFrame(yamuxTypeData, yamuxFlagSYN|yamuxFlagACK|yamuxFlagFIN, 3, 2*rxPiece+100),
		yamuxFrame(2, yamuxFlagSYN, 0, 0), // ping
		yamuxFrame(yamuxTypeData, 0, 1, 10),
		yamuxFrame(yamuxTypeData, 0, 7, 10), // no such stream: passed, the multiplexer drops it
	)
	must(t, err)
	want := "1/1/1/0 0/3/3/65536 0/0/3/65536 0/4/3/100 2/1/0/0 0/0/1/10 0/0/7/10"
	if describe(got) != want {
		t.Fatalf("frames\n got %s\nwant %s", describe(got), want)
	}
	st := rx.stats()
	if st.streams != 2 || st.charged != 2*rxPiece+110 {
		t.Fatalf("stats %+v", st)
	}
	// Both ends' FIN removes a stream and releases its charge; so does a RST.
	rx.flags(3, yamuxFlagFIN, false)
	rx.flags(1, yamuxFlagRST, false)
	if st := rx.stats(); st.streams != 0 || st.charged != 0 {
		t.Fatalf("after FIN and RST: %+v", st)
	}
}

// TestFilterDiscards: data for a stream this host finished reading is
// dropped; its flags still reach the multiplexer in an empty frame.
func TestFilterDiscards(t *testing.T) {
	rx := newRecvBuffers(32<<20, time.Second, 8, time.Second)
	rx.flags(5, yamuxFlagSYN, true)
	rx.mu.streams[5].done = true
	rx.mu.lingering = 1
	got, err := filtered(t, rx,
		yamuxFrame(yamuxTypeData, 0, 5, 3*rxPiece),
		yamuxFrame(yamuxTypeData, yamuxFlagRST, 5, 100),
	)
	must(t, err)
	if want := "0/8/5/0"; describe(got) != want {
		t.Fatalf("frames %s, want %s", describe(got), want)
	}
	if st := rx.stats(); st.discarded != 3*rxPiece+100 || st.streams != 0 || st.lingering != 0 || st.charged != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFilterBudget: a piece that would take the session over its budget
// waits, and the read fails with errSessionBuffer after the stall limit;
// what was handed on stays within the budget.
func TestFilterBudget(t *testing.T) {
	const budget = 4 * rxPiece
	rx := newRecvBuffers(budget, 200*time.Millisecond, 8, time.Second)
	start := time.Now()
	got, err := filtered(t, rx, yamuxFrame(yamuxTypeData, yamuxFlagSYN, 1, 10*rxPiece))
	if !errors.Is(err, errSessionBuffer) {
		t.Fatalf("err %v", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("failed after %s, before the stall limit", took)
	}
	if len(got) != 4 || rx.stats().peak != budget {
		t.Fatalf("frames %s, stats %+v", describe(got), rx.stats())
	}
	t.Logf("%v", err)
}

// TestFilterMalformed: a header the multiplexer will refuse is passed on
// with everything after it.
func TestFilterMalformed(t *testing.T) {
	rx := newRecvBuffers(32<<20, time.Second, 8, time.Second)
	bad := yamuxFrame(9, 0, 1, 0)
	got, err := filtered(t, rx, bad, yamuxFrame(yamuxTypeData, 0, 1, 5))
	must(t, err)
	if want := "9/0/1/0 0/0/1/5"; describe(got) != want {
		t.Fatalf("frames %s, want %s", describe(got), want)
	}
}

// yamuxParse is the reference reading of a yamux byte stream: the data
// bytes of each stream in order, the non-data frames in order, and the
// bytes after the first header the multiplexer would refuse (unknown
// version or type), which the filter hands on untouched. A header cut
// short by the end of the stream is nothing: the multiplexer reads EOF.
func yamuxParse(b []byte) (data map[uint32][]byte, control []string, rest []byte) {
	data = map[uint32][]byte{}
	for len(b) >= yamuxHeaderLen {
		h := b[:yamuxHeaderLen]
		typ, flags, id, n := h[1], binary.BigEndian.Uint16(h[2:]), binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
		if h[0] != 0 || typ > yamuxTypeGoAway {
			return data, control, b
		}
		b = b[yamuxHeaderLen:]
		if typ != yamuxTypeData {
			control = append(control, fmt.Sprintf("%d/%d/%d/%d", typ, flags, id, n))
			continue
		}
		k := min(int(n), len(b))
		data[id] = append(data[id], b[:k]...)
		b = b[k:]
	}
	return data, control, nil
}

// FuzzFilter feeds arbitrary bytes, as a hostile node may send, through
// the receive filter with a budget nothing reaches and nothing finished,
// read in pieces of the fuzzed sizes: it must never panic or hang, and the
// multiplexer must see exactly what the reference parser sees in the
// input: every stream's data in order, every other frame, and after a
// header it would refuse, the rest untouched.
func FuzzFilter(f *testing.F) {
	var seed []byte
	for _, fr := range [][]byte{
		yamuxFrame(yamuxTypeData, yamuxFlagSYN, 1, 10),
		yamuxFrame(yamuxTypeWindowUpdate, yamuxFlagACK, 2, 0),
		yamuxFrame(yamuxTypeData, 0, 1, 300), // pieces of more than rxPiece: TestFilterPieces
		yamuxFrame(yamuxTypeData, yamuxFlagFIN, 1, 0),
		yamuxFrame(2, 0, 0, 5), // ping
		yamuxFrame(yamuxTypeGoAway, 0, 0, 0),
	} {
		seed = append(seed, fr...)
	}
	f.Add(seed, uint16(1))
	f.Add(seed, uint16(4096))
	f.Add(append(yamuxFrame(yamuxTypeData, yamuxFlagSYN, 3, 4), 1, 9, 9, 9, 9), uint16(3))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 1, 2}, uint16(7))
	f.Fuzz(func(t *testing.T, in []byte, step uint16) {
		rx := newRecvBuffers(1<<40, time.Second, 1<<20, time.Hour)
		wc := &watchedConn{Conn: &bytesConn{r: bytes.NewReader(in)}, idle: time.Second, write: time.Second, rx: rx}
		n := max(int(step), 1)
		var out []byte
		buf := make([]byte, n)
		for i := 0; ; i++ {
			if i > 4*len(in)+64 {
				t.Fatalf("no end after %d reads of %d input bytes", i, len(in))
			}
			k, err := wc.Read(buf)
			out = append(out, buf[:k]...)
			if err != nil {
				break
			}
			if k == 0 && len(out) > 0 && len(in) == 0 {
				break
			}
		}
		wantData, wantControl, wantRest := yamuxParse(in)
		gotData, gotControl, gotRest := yamuxParse(out)
		for id, d := range wantData {
			if !bytes.Equal(gotData[id], d) {
				t.Fatalf("stream %d: %d data bytes handed on, %d sent", id, len(gotData[id]), len(d))
			}
		}
		if len(gotData) > len(wantData) && len(wantRest) == 0 {
			t.Fatalf("streams %d handed on, %d sent", len(gotData), len(wantData))
		}
		if fmt.Sprint(gotControl) != fmt.Sprint(wantControl) {
			t.Fatalf("control frames %v handed on, %v sent", gotControl, wantControl)
		}
		if !bytes.Equal(gotRest, wantRest) {
			t.Fatalf("after a refused header: %d bytes handed on, %d sent", len(gotRest), len(wantRest))
		}
	})
}
