package p2p

import (
	"encoding/binary"
	"net"
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
type watchedConn struct {
	net.Conn
	idle  time.Duration
	write time.Duration
	held  []byte // a data frame header waiting for its body
	buf   []byte // reused for header+body
}

const (
	yamuxHeaderLen = 12
	yamuxTypeData  = 0
	// coalesceMax bounds the bodies sent together with their header:
	// one TLS record's payload.
	coalesceMax = 16<<10 - yamuxHeaderLen
)

func (c *watchedConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *watchedConn) Write(p []byte) (int, error) {
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
