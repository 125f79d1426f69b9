package wire

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// The client API is ReleaseService (api/folio/v1/release.proto), served
// with connect; its messages are protobuf. The functions below check the
// fields a peer (requests) or a client (answers) uses, beyond what the
// protobuf types say, before anything else looks at them.

// PieceBytes is the largest piece of a chunk, plaintext or probe a stream
// message carries (chunks may be larger than a message: up to 16 MiB).
const PieceBytes = 64 << 10

// MaxProbeBytes bounds a bandwidth probe.
const MaxProbeBytes = 4 << 20

// maxReasonBytes bounds the reason of a status event.
const maxReasonBytes = 4096

// CheckRID refuses a release ID that is not 32 lowercase hex digits.
func CheckRID(rid string) error {
	if !ValidRID(rid) {
		return fmt.Errorf("%w: release ID %q: want 32 lowercase hex digits", ErrMalformed, rid)
	}
	return nil
}

// validRate: a rate in bits per second a client may claim (NaN and
// infinities are not rates).
func validRate(bps float64) bool {
	return !math.IsNaN(bps) && bps >= 0 && bps <= 1e12
}

// ValidateSubscribe checks a subscription request.
func ValidateSubscribe(r *foliov1.SubscribeRequest) error {
	if err := CheckRID(r.GetReleaseId()); err != nil {
		return err
	}
	if !ValidClient(r.GetClient()) {
		return fmt.Errorf("%w: client %q: letters, digits and . _ : @ / -, 1..160", ErrMalformed, r.GetClient())
	}
	if r.GetHaveBytes() < 0 {
		return fmt.Errorf("%w: have_bytes is negative", ErrMalformed)
	}
	if r.GetNaive() && !r.GetEdgeDecrypt() {
		return fmt.Errorf("%w: naive delivery is a kind of edge decrypt", ErrMalformed)
	}
	if s := r.GetSession(); s != "" && !sessionPattern.MatchString(s) {
		return fmt.Errorf("%w: session %q: letters, digits, - and _, 1..64", ErrMalformed, s)
	}
	return nil
}

// sessionPattern is a fetch's session ID.
var sessionPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidateProgress checks a progress report.
func ValidateProgress(p *foliov1.ReportProgressRequest) error {
	if err := CheckRID(p.GetReleaseId()); err != nil {
		return err
	}
	if !ValidClient(p.GetClient()) {
		return fmt.Errorf("%w: client %q", ErrMalformed, p.GetClient())
	}
	if p.GetBytes() < 0 || p.GetTotal() < 0 || p.GetBytes() > p.GetTotal() || !validRate(p.GetRateBps()) || p.GetPong() < 0 || p.GetProbeAck() < 0 {
		return fmt.Errorf("%w: progress out of range (bytes %d of %d, rate %v, pong %d, probe ack %d)", ErrMalformed, p.GetBytes(), p.GetTotal(), p.GetRateBps(), p.GetPong(), p.GetProbeAck())
	}
	return nil
}

// ValidateProbe checks a probe's size.
func ValidateProbe(n int64) error {
	if n <= 0 || n > MaxProbeBytes {
		return fmt.Errorf("%w: probe of %d bytes: want 1..%d", ErrMalformed, n, MaxProbeBytes)
	}
	return nil
}

// ValidateProbeRequest checks a probe request: its size, and the
// subscription it measures (release and client both, or neither).
func ValidateProbeRequest(r *foliov1.ProbeRequest) error {
	if err := ValidateProbe(r.GetBytes()); err != nil {
		return err
	}
	rid, client := r.GetReleaseId(), r.GetClient()
	if rid == "" && client == "" {
		return nil
	}
	if err := CheckRID(rid); err != nil {
		return err
	}
	if !ValidClient(client) {
		return fmt.Errorf("%w: client %q", ErrMalformed, client)
	}
	return nil
}

// TailKeyBytes is the size of a trusted edge's tail key (AES-256).
const TailKeyBytes = 32

// ValidatePlaintextPiece checks a GetPlaintext message (client side):
// a tail offset within the work, a tail key of the right size and alone.
func ValidatePlaintextPiece(m *foliov1.GetPlaintextResponse, size int64) error {
	if m.GetTailOffset() < 0 || m.GetTailOffset() > size {
		return fmt.Errorf("%w: tail offset %d outside the work's %d bytes", ErrMalformed, m.GetTailOffset(), size)
	}
	if k := m.GetTailKey(); k != nil && (len(k) != TailKeyBytes || len(m.GetData()) > 0) {
		return fmt.Errorf("%w: tail key of %d bytes with %d bytes of data", ErrMalformed, len(k), len(m.GetData()))
	}
	return nil
}

func checkShareBytes(index uint32, share []byte) error {
	if index < 1 || index > 255 {
		return fmt.Errorf("share index %d: want 1..255", index)
	}
	if len(share) < 2 || len(share) > 64 {
		return fmt.Errorf("share of %d bytes: want 2..64", len(share))
	}
	return nil
}

// ValidateEvent checks a subscription event (client side).
func ValidateEvent(e *foliov1.SubscribeResponse) error {
	switch e.GetType() {
	case foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_HELLO, foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_PING,
		foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SCHEDULE, foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_STATUS:
		if len(e.GetReason()) > maxReasonBytes {
			return fmt.Errorf("%w: status reason too long", ErrMalformed)
		}
		return nil
	case foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE:
		if err := checkShareBytes(e.GetShareIndex(), e.GetShare()); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown event type %d", ErrMalformed, e.GetType())
}

// ValidateShares checks a GetShares answer (client side): the formats of
// the statements; their signatures and commitments are checked by whoever
// uses them.
func ValidateShares(v *foliov1.GetSharesResponse) error {
	if len(v.GetShares()) > 255 {
		return fmt.Errorf("%w: %d shares", ErrMalformed, len(v.GetShares()))
	}
	for _, s := range v.GetShares() {
		if err := checkShareBytes(s.GetIndex(), s.GetShare()); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		m := ShareMsg{Index: int(s.GetIndex()), Share: hex.EncodeToString(s.GetShare()), SentAt: s.GetSentAt(), NodeID: s.GetNodeId(), Sig: hex.EncodeToString(s.GetSig())}
		if err := m.Validate(); err != nil {
			return fmt.Errorf("%w: share %d: %v", ErrMalformed, s.GetIndex(), err)
		}
	}
	return nil
}

// ShareProto is a share statement as the client API carries it.
func ShareProto(m ShareMsg) (*foliov1.ReleaseShare, error) {
	share, err1 := hex.DecodeString(m.Share)
	sig, err2 := hex.DecodeString(m.Sig)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%w: share %d: %v", ErrMalformed, m.Index, err)
	}
	return &foliov1.ReleaseShare{Index: uint32(m.Index), Share: share, SentAt: m.SentAt, NodeId: m.NodeID, Sig: sig}, nil
}
