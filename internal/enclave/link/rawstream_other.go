//go:build !linux

package link

import "io"

// rawStream is the Linux fast path of the boundary socket (see
// rawstream_linux.go); elsewhere the endpoint uses the net.Conn.
type rawStream struct{}

func newRawStream(io.ReadWriteCloser) *rawStream { return nil }

func (*rawStream) Read([]byte) (int, error)        { return 0, io.ErrClosedPipe }
func (*rawStream) Write([]byte) (int, error)       { return 0, io.ErrClosedPipe }
func (*rawStream) writeNoWait([]byte) (int, error) { return 0, io.ErrClosedPipe }
