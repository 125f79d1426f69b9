package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version, checked in Init. 2: Install carries a
// signed package, InitReply the enclave's trust anchor.
const Version = 2

// Frame kinds.
const (
	KindEcall      uint8 = 1
	KindEcallReply uint8 = 2
	KindOcall      uint8 = 3
	KindOcallReply uint8 = 4
	KindCancel     uint8 = 5
	// KindBatch carries several ecall frames in one crossing, and
	// KindBatchReply the replies of a batch's ecalls that finished
	// together (see SplitBatch).
	KindBatch      uint8 = 6
	KindBatchReply uint8 = 7
)

// Ecall operations.
const (
	OpInit       uint8 = 1
	OpInstall    uint8 = 2
	OpSimulate   uint8 = 3
	OpCommit     uint8 = 4
	OpStats      uint8 = 5
	OpPing       uint8 = 6
	OpInvalidate uint8 = 7
)

// Ocall operations.
const (
	OcLookup       uint8 = 1
	OcStateGet     uint8 = 2
	OcStateRange   uint8 = 3
	OcStateHistory uint8 = 4
)

// OpName names an ecall operation for logs and metrics.
func OpName(op uint8) string {
	switch op {
	case OpInit:
		return "init"
	case OpInstall:
		return "install"
	case OpSimulate:
		return "simulate"
	case OpCommit:
		return "commit"
	case OpStats:
		return "stats"
	case OpPing:
		return "ping"
	case OpInvalidate:
		return "invalidate"
	}
	return fmt.Sprintf("op%d", op)
}

// OcName names an ocall operation.
func OcName(op uint8) string {
	switch op {
	case OcLookup:
		return "lookup"
	case OcStateGet:
		return "state_get"
	case OcStateRange:
		return "state_range"
	case OcStateHistory:
		return "state_history"
	}
	return fmt.Sprintf("oc%d", op)
}

const (
	// HeaderBytes is the size of a frame header, length field included.
	HeaderBytes = 14
	// MaxFrameBytes bounds the length field: a wasm module, a call's
	// arguments or a reply must fit in one frame.
	MaxFrameBytes = 256 << 20
)

// ErrFrameTooLarge is returned for a frame above MaxFrameBytes.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// Frame is one decoded frame. Payload is a fresh slice owned by the
// receiver.
type Frame struct {
	Kind, Op uint8
	ID       uint64
	Payload  []byte
}

// Begin starts a frame in buf (reusing its capacity): the header with a
// placeholder length. Append the payload, then call Finish.
func Begin(buf []byte, kind, op uint8, id uint64) []byte {
	buf = append(buf[:0], 0, 0, 0, 0, kind, op)
	return binary.BigEndian.AppendUint64(buf, id)
}

// Finish sets the length of a frame built with Begin.
func Finish(frame []byte) ([]byte, error) {
	n := len(frame) - 4
	if n > MaxFrameBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, MaxFrameBytes)
	}
	binary.BigEndian.PutUint32(frame, uint32(n))
	return frame, nil
}

// ReadFrame reads one frame. io.EOF means the stream ended between frames.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [HeaderBytes]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("wire: truncated frame header: %w", err)
		}
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n < HeaderBytes-4 {
		return Frame{}, fmt.Errorf("%w: frame length %d is shorter than its header", ErrMalformed, n)
	}
	if n > MaxFrameBytes {
		return Frame{}, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, MaxFrameBytes)
	}
	f := Frame{Kind: h[4], Op: h[5], ID: binary.BigEndian.Uint64(h[6:])}
	if f.Kind < KindEcall || f.Kind > KindBatchReply {
		return Frame{}, fmt.Errorf("%w: frame kind %d", ErrMalformed, f.Kind)
	}
	f.Payload = make([]byte, int(n)-(HeaderBytes-4))
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return Frame{}, fmt.Errorf("wire: truncated frame: %w", err)
	}
	return f, nil
}

// MaxBatchFrames bounds the frames of one batch.
const MaxBatchFrames = 1024

// SplitBatch splits the payload of a KindBatch or KindBatchReply frame
// into the frames it carries, each a whole frame (header included) of
// kind want (KindEcall in a batch, KindEcallReply in a batch reply).
// Payloads alias b. An empty batch reply is valid: a batch whose ecalls
// all finished late (each then has a reply frame of its own).
func SplitBatch(b []byte, want uint8) ([]Frame, error) {
	var fs []Frame
	for len(b) > 0 {
		if len(fs) == MaxBatchFrames {
			return nil, fmt.Errorf("%w: more than %d frames in a batch", ErrMalformed, MaxBatchFrames)
		}
		if len(b) < HeaderBytes {
			return nil, fmt.Errorf("%w: batch ends in a truncated frame header (%d bytes)", ErrMalformed, len(b))
		}
		n := binary.BigEndian.Uint32(b[:4])
		if n < HeaderBytes-4 || uint64(n)+4 > uint64(len(b)) {
			return nil, fmt.Errorf("%w: batched frame of length %d in %d bytes", ErrMalformed, n, len(b))
		}
		f := Frame{Kind: b[4], Op: b[5], ID: binary.BigEndian.Uint64(b[6:HeaderBytes]), Payload: b[HeaderBytes : 4+n : 4+n]}
		if f.Kind != want {
			return nil, fmt.Errorf("%w: frame kind %d in a batch of kind %d frames", ErrMalformed, f.Kind, want)
		}
		fs = append(fs, f)
		b = b[4+n:]
	}
	return fs, nil
}
