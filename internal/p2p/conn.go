package p2p

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// watchedConn is a session's connection under the multiplexer. Every Read
// pushes the read deadline idle ahead, so a session on which nothing at
// all arrives (not even the keepalive pings both ends send) for idle is
// closed; every Write gets write to make progress, so a peer that stops
// reading cannot block the session forever.
//
// It also coalesces the multiplexer's writes: yamux writes a data frame's
// 12-byte header and its body with two Write calls, which over TLS would
// cost two records and two system calls. A data header announcing a body
// is held back and sent with the body when the body is small (one TLS
// record). Only the multiplexer's send loop writes, so no lock is needed.
//
// With rx set, it also filters what the multiplexer reads and follows the
// streams it writes about, to bound the session's receive buffers
// (budget.go).
type watchedConn struct {
	net.Conn
	idle  time.Duration
	write time.Duration
	held  []byte // a data frame header waiting for its body
	buf   []byte // reused for header+body

	rx *recvBuffers
	// in is the parse state of the received frames, owned by the
	// multiplexer's receive loop (the only reader).
	in inFrames
}

// inFrames is where the filter is in the received byte stream. Each Read
// hands on one segment: (part of) a header, or body bytes of the current
// piece, never past the piece; so a Read that may wait for the budget
// (before a piece's header) is never made inside the multiplexer's copy
// of a body, which holds that stream's lock.
type inFrames struct {
	hdr [yamuxHeaderLen]byte // the header being read from the socket
	got int
	out [yamuxHeaderLen]byte // the header being handed on
	pos int                  // of out handed on
	end int                  // length of out
	// The data frame being handed on in pieces.
	id    uint32
	flags uint16
	first bool // the next piece is the frame's first
	left  int  // body bytes of the frame not yet read from the socket
	piece int  // body bytes of the current piece not yet read
	drop  bool // the current piece is discarded
	// copied: a piece was handed on whole; once the multiplexer asks for
	// more it has copied it (rx.settled).
	copied bool
	// raw: a header the multiplexer will refuse (unknown version or
	// type) was handed on; pass everything through, it ends the session.
	raw     bool
	scratch []byte
}

// coalesceMax bounds the bodies sent together with their header: one TLS
// record's payload.
const coalesceMax = 16<<10 - yamuxHeaderLen

// errIdle and errWriteStalled mark the session's end by its own
// deadlines (IdleTimeout, WriteTimeout): the multiplexer shuts down with
// the connection's error, and the accept loop counts these.
var (
	errIdle         = errors.New("nothing arrived within IdleTimeout")
	errWriteStalled = errors.New("socket accepted nothing within WriteTimeout")
)

// deadlineErr marks a deadline error of the connection with why it was set.
func deadlineErr(err, why error) error {
	if err != nil && isTimeout(err) {
		return fmt.Errorf("%w: %w", why, err)
	}
	return err
}

// isTimeout reports whether err is a deadline (or other timeout) error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// readConn reads from the socket, pushing the idle deadline ahead.
func (c *watchedConn) readConn(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	return n, deadlineErr(err, errIdle)
}

// Read hands the multiplexer the received frames, filtered when rx is
// set: data frames are cut into pieces of at most rxPiece bytes, each
// passed on or, for a stream this host has finished reading, replaced by
// an empty frame with the same flags.
func (c *watchedConn) Read(p []byte) (int, error) {
	if c.rx == nil {
		return c.readConn(p)
	}
	f := &c.in
	for len(p) > 0 {
		switch {
		case f.pos < f.end:
			n := copy(p, f.out[f.pos:f.end])
			f.pos += n
			return n, nil
		case f.raw:
			return c.readConn(p)
		case f.piece > 0 && !f.drop:
			n, err := c.readConn(p[:min(len(p), f.piece)])
			f.piece -= n
			f.copied = f.piece == 0
			return n, err
		case f.copied:
			f.copied = false
			c.rx.settled(f.id)
		case f.piece > 0:
			if f.scratch == nil {
				f.scratch = make([]byte, 16<<10)
			}
			n, err := c.readConn(f.scratch[:min(len(f.scratch), f.piece)])
			f.piece -= n
			if err != nil {
				return 0, err
			}
		case f.left > 0:
			if err := c.nextPiece(); err != nil {
				return 0, err
			}
		default:
			n, err := c.readConn(f.hdr[f.got:])
			f.got += n
			if err != nil {
				return 0, err
			}
			if f.got == yamuxHeaderLen {
				f.got = 0
				c.frame()
			}
		}
	}
	return 0, nil
}

// frame handles a header read from the socket: anything but a data frame
// with a body is handed on as it is.
func (c *watchedConn) frame() {
	f := &c.in
	h := f.hdr[:]
	typ, flags, id, length := h[1], binary.BigEndian.Uint16(h[2:]), binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
	switch {
	case h[0] != 0 || typ > yamuxTypeGoAway:
		f.raw = true
	case typ == yamuxTypeData && length > 0:
		f.id, f.flags, f.first, f.left = id, flags, true, int(length)
		return
	case typ <= yamuxTypeWindowUpdate:
		c.rx.flags(id, flags, true)
	}
	f.out = f.hdr
	f.pos, f.end = 0, yamuxHeaderLen
}

// nextPiece starts the next piece of the data frame being handed on: the
// first piece carries the frame's SYN and ACK, the last its FIN and RST.
func (c *watchedConn) nextPiece() error {
	f := &c.in
	k := min(f.left, rxPiece)
	var flags uint16
	if f.first {
		flags = f.flags &^ (yamuxFlagFIN | yamuxFlagRST)
	}
	if k == f.left {
		flags |= f.flags & (yamuxFlagFIN | yamuxFlagRST)
	}
	pass, err := c.rx.admit(f.id, k, flags&yamuxFlagSYN != 0)
	if err != nil {
		return err
	}
	f.first = false
	f.left -= k
	f.piece, f.drop = k, !pass
	c.rx.flags(f.id, flags&^yamuxFlagSYN, true) // after admit, so that a removal releases this piece's charge too
	length := uint32(k)
	if !pass {
		if flags == 0 {
			return nil // nothing to hand on
		}
		length = 0
	}
	f.out[0], f.out[1] = 0, yamuxTypeData
	binary.BigEndian.PutUint16(f.out[2:], flags)
	binary.BigEndian.PutUint32(f.out[4:], f.id)
	binary.BigEndian.PutUint32(f.out[8:], length)
	f.pos, f.end = 0, yamuxHeaderLen
	return nil
}

// Close closes the connection and wakes a Read waiting for the budget.
func (c *watchedConn) Close() error {
	if c.rx != nil {
		c.rx.close()
	}
	return c.Conn.Close()
}

func (c *watchedConn) Write(p []byte) (int, error) {
	if c.rx != nil && c.held == nil && len(p) == yamuxHeaderLen && p[1] <= yamuxTypeWindowUpdate {
		// A header (a body always follows a held header): follow the
		// streams this end opens, closes and resets.
		c.rx.flags(binary.BigEndian.Uint32(p[4:]), binary.BigEndian.Uint16(p[2:]), false)
	}
	if c.held == nil && len(p) == yamuxHeaderLen && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:]) > 0 {
		if c.buf == nil {
			c.buf = make([]byte, 0, yamuxHeaderLen+coalesceMax)
		}
		c.held = append(c.buf[:0], p...)
		return len(p), nil
	}
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write)); err != nil {
		return 0, err
	}
	n, err := c.writeHeld(p)
	return n, deadlineErr(err, errWriteStalled)
}

// writeHeld writes p, with the held header before it if any.
func (c *watchedConn) writeHeld(p []byte) (int, error) {
	if c.held == nil {
		return c.Conn.Write(p)
	}
	held := c.held
	c.held = nil
	if len(p) <= coalesceMax {
		if _, err := c.Conn.Write(append(held, p...)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if _, err := c.Conn.Write(held); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
