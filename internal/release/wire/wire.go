package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"time"
	"unicode/utf8"
)

// ErrMalformed marks a message that does not decode or validate.
var ErrMalformed = errors.New("release wire: malformed message")

// Session protocols.
const (
	ProtoContent = "content"
	ProtoKeys    = "keys"
)

// MaxMessageBytes bounds a JSON message (not a chunk).
const MaxMessageBytes = 1 << 20

// Reply statuses of session calls.
const (
	StatusOK       byte = 0
	StatusNotReady byte = 1
	StatusRefused  byte = 2
	StatusFailed   byte = 3
)

// Reply builds a session reply: status then body.
func Reply(status byte, body []byte) []byte { return append([]byte{status}, body...) }

// ReplyErr builds a non-OK reply with a reason.
func ReplyErr(status byte, format string, args ...any) []byte {
	return Reply(status, []byte(fmt.Sprintf(format, args...)))
}

// StatusError is a non-OK session reply.
type StatusError struct {
	Status byte
	Reason string
}

func (e *StatusError) Error() string {
	switch e.Status {
	case StatusNotReady:
		return "not available yet: " + e.Reason
	case StatusRefused:
		return "refused: " + e.Reason
	default:
		return e.Reason
	}
}

// ParseReply splits a session reply; a non-OK status is a *StatusError.
func ParseReply(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty reply", ErrMalformed)
	}
	if b[0] == StatusOK {
		return b[1:], nil
	}
	if b[0] > StatusFailed {
		return nil, fmt.Errorf("%w: reply status %d", ErrMalformed, b[0])
	}
	reason := string(b[1:])
	if !utf8.ValidString(reason) || len(reason) > 4096 {
		reason = "(unreadable reason)"
	}
	return nil, &StatusError{Status: b[0], Reason: reason}
}

// Validator is a message with a Validate method.
type Validator interface{ Validate() error }

// Decode parses one JSON object into v, refusing unknown fields and
// trailing data, then validates it.
func Decode(b []byte, v Validator) error {
	if len(b) > MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if err := v.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// Encode marshals a message. The messages are structs of strings, integers
// and finite floats (their MarshalJSON clamps measurements that came out
// infinite or NaN), so marshalling cannot fail; if it ever did, the empty
// body would be refused by the receiver's Decode as malformed, never
// crash this node.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// finite maps a measurement that came out infinite or NaN (a rate over a
// zero interval, say) to 0, which every message reads as "unknown".
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// MarshalJSON encodes p with its measurements finite.
func (p ClientPrediction) MarshalJSON() ([]byte, error) {
	type plain ClientPrediction
	p.RateBps, p.RTTMS = finite(p.RateBps), finite(p.RTTMS)
	return json.Marshal(plain(p))
}

var (
	ridPattern    = regexp.MustCompile(`^[0-9a-f]{32}$`)
	clientPattern = regexp.MustCompile(`^[A-Za-z0-9._:@/-]{1,160}$`)
	nodePattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// ValidRID reports whether s is a release ID (32 lowercase hex digits).
func ValidRID(s string) bool { return ridPattern.MatchString(s) }

// validNode reports whether s is a node (peer) name.
func validNode(s string) bool { return nodePattern.MatchString(s) }

// ValidClient reports whether s is a client key ("user@Org" or
// "user@Org/name").
func ValidClient(s string) bool { return clientPattern.MatchString(s) }

func checkRID(rid string) error {
	if !ValidRID(rid) {
		return fmt.Errorf("release ID %q: want 32 lowercase hex digits", rid)
	}
	return nil
}

func checkHexShare(s string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) < 2 || len(b) > 64 {
		return fmt.Errorf("share must be 2..64 bytes of hex")
	}
	return nil
}

func checkIndex(i int) error {
	if i < 1 || i > 255 {
		return fmt.Errorf("share index %d: want 1..255", i)
	}
	return nil
}

// ---- session protocol "content" ----

// Content operations.
const (
	OpManifest = "manifest"
	OpChunk    = "chunk"
	OpHave     = "have"
	OpAnnounce = "announce"
)

// ContentRequest is a request of protocol "content". Replies: manifest
// bytes, chunk bytes, a bitmap of the chunks held (bit i of byte i/8,
// least significant first), or empty for announce.
type ContentRequest struct {
	Op    string `json:"op"`
	RID   string `json:"rid"`
	Index int64  `json:"index,omitempty"`
}

// Validate checks the request.
func (r *ContentRequest) Validate() error {
	switch r.Op {
	case OpManifest, OpHave, OpAnnounce:
	case OpChunk:
		if r.Index < 0 || r.Index > 1<<28 {
			return fmt.Errorf("chunk index %d", r.Index)
		}
	default:
		return fmt.Errorf("unknown content operation %q", r.Op)
	}
	return checkRID(r.RID)
}

// ---- session protocol "keys" ----

// Keys operations.
const (
	OpShare    = "share"
	OpEarly    = "early"
	OpReport   = "report"
	OpCoord    = "coord"
	OpClock    = "clock"
	OpSchedule = "schedule"
)

// KeysRequest is a request of protocol "keys". One struct for every
// operation; Validate checks the fields the operation uses.
type KeysRequest struct {
	Op  string `json:"op"`
	RID string `json:"rid,omitempty"`
	// share: a key server's signed share release (Share message).
	Share *ShareMsg `json:"share,omitempty"`
	// early: how long before the key send time the trusted edge needs the
	// key (milliseconds).
	LeadMS int64 `json:"lead_ms,omitempty"`
	// coord: the sender's proposed key send time and round.
	Proposal *Proposal `json:"proposal,omitempty"`
	// clock: the sender's send time (Unix nanoseconds).
	T0 int64 `json:"t0,omitempty"`
}

// ShareMsg is a released share with the key server's signed statement.
type ShareMsg struct {
	Index  int    `json:"index"`
	Share  string `json:"share"`
	SentAt string `json:"sent_at"`
	NodeID string `json:"node_id"`
	Sig    string `json:"sig"`
	// Relayed is set on copies a peer forwards (they are not forwarded
	// again).
	Relayed bool `json:"relayed,omitempty"`
}

// Validate checks the share message's formats.
func (m *ShareMsg) Validate() error {
	if err := checkIndex(m.Index); err != nil {
		return err
	}
	if err := checkHexShare(m.Share); err != nil {
		return err
	}
	if _, err := time.Parse(time.RFC3339Nano, m.SentAt); err != nil {
		return fmt.Errorf("sent_at %q is not RFC 3339", m.SentAt)
	}
	if b, err := hex.DecodeString(m.NodeID); err != nil || len(b) != 32 {
		return fmt.Errorf("node_id must be 64 hex digits")
	}
	if b, err := hex.DecodeString(m.Sig); err != nil || len(b) == 0 || len(b) > 80 {
		return fmt.Errorf("sig must be a DER signature in hex")
	}
	return nil
}

// Proposal is a key server's proposed key send time in a coordination
// round.
type Proposal struct {
	// From is the proposing key server's name.
	From string `json:"from"`
	// SendAt is the proposed send time, Unix nanoseconds.
	SendAt int64 `json:"send_at"`
	// Ready and Total count the clients the proposer's predictions cover
	// (ready by SendAt, subscribed).
	Ready int `json:"ready"`
	Total int `json:"total"`
}

// Validate checks the request.
func (r *KeysRequest) Validate() error {
	switch r.Op {
	case OpClock:
		if r.T0 <= 0 {
			return errors.New("clock: t0 must be positive")
		}
		return nil
	case OpShare:
		if r.Share == nil {
			return errors.New("share: no share")
		}
		if err := r.Share.Validate(); err != nil {
			return err
		}
	case OpEarly:
		if r.LeadMS <= 0 || r.LeadMS > int64(48*time.Hour/time.Millisecond) {
			return fmt.Errorf("early: lead %d ms out of range", r.LeadMS)
		}
	case OpCoord:
		if r.Proposal == nil || !nodePattern.MatchString(r.Proposal.From) || r.Proposal.SendAt <= 0 || r.Proposal.Ready < 0 || r.Proposal.Total < r.Proposal.Ready {
			return errors.New("coord: missing or malformed proposal")
		}
	case OpReport, OpSchedule:
	default:
		return fmt.Errorf("unknown keys operation %q", r.Op)
	}
	return checkRID(r.RID)
}

// ClockReply answers a clock request: the receiver's time when it
// answered (Unix nanoseconds).
type ClockReply struct {
	T1 int64 `json:"t1"`
}

// Validate checks the reply.
func (r *ClockReply) Validate() error {
	if r.T1 <= 0 {
		return errors.New("t1 must be positive")
	}
	return nil
}

// ClientPrediction is an edge's view of one subscribed client.
type ClientPrediction struct {
	Client string `json:"client"`
	// Complete: the client acknowledged the whole ciphertext at DoneAt.
	Complete bool  `json:"complete,omitempty"`
	DoneAt   int64 `json:"done_at,omitempty"`
	// PredictedAt is when it is expected to complete (0: unknown).
	PredictedAt int64 `json:"predicted_at,omitempty"`
	// RateBps is the recent observed rate, RTTMS the probed round trip.
	RateBps float64 `json:"rate_bps,omitempty"`
	RTTMS   float64 `json:"rtt_ms,omitempty"`
	// EdgeDecrypt clients get plaintext from a trusted edge and do not
	// wait for ciphertext.
	EdgeDecrypt bool `json:"edge_decrypt,omitempty"`
}

// Report is an edge's answer to a report request.
type Report struct {
	Edge    string             `json:"edge"`
	Clients []ClientPrediction `json:"clients"`
}

// Validate checks the report.
func (r *Report) Validate() error {
	if !validNode(r.Edge) {
		return fmt.Errorf("edge %q", r.Edge)
	}
	if len(r.Clients) > 100000 {
		return errors.New("too many clients")
	}
	for _, c := range r.Clients {
		if !ValidClient(c.Client) || c.RateBps < 0 || c.RTTMS < 0 {
			return fmt.Errorf("client prediction %q", c.Client)
		}
	}
	return nil
}

// ScheduleReply is a key server's current agreed send time (0: none yet).
type ScheduleReply struct {
	SendAt int64 `json:"send_at"`
	// Released: the key server has released its share.
	Released bool `json:"released,omitempty"`
	// Reason says why the key server is not acting (clock skew, refused
	// release), if it is not.
	Reason string `json:"reason,omitempty"`
}

// Validate checks the reply.
func (r *ScheduleReply) Validate() error {
	if r.SendAt < 0 || len(r.Reason) > 4096 {
		return errors.New("schedule reply out of range")
	}
	return nil
}

// Validate checks a proposal reply.
func (p *Proposal) Validate() error {
	if !nodePattern.MatchString(p.From) || p.SendAt < 0 || p.Ready < 0 || p.Total < p.Ready {
		return errors.New("malformed proposal")
	}
	return nil
}

// EarlyShare is a key server's answer to a trusted edge's early request:
// its share, over the authenticated session, not signed for publication.
type EarlyShare struct {
	Index int    `json:"index"`
	Share string `json:"share"`
}

// Validate checks the answer.
func (e *EarlyShare) Validate() error {
	if err := checkIndex(e.Index); err != nil {
		return err
	}
	return checkHexShare(e.Share)
}
