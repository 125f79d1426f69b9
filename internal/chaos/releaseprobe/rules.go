package releaseprobe

import (
	"fmt"
	"sort"
	"time"
)

// Role is what kind of client made an observation.
type Role string

const (
	// RoleKey: an honest ciphertext client (Fetch).
	RoleKey Role = "key"
	// RoleEdge: an honest edge-decrypt client (Fetch with EdgeDecrypt).
	RoleEdge Role = "edge"
	// RoleAdversary: the client asking every peer for everything early.
	RoleAdversary Role = "adversary"
)

// Kind is what a client obtained.
type Kind string

const (
	// KindShare: a key share (Subscribe SHARE event, GetShares).
	KindShare Kind = "share"
	// KindTailKey: a trusted edge's tail key (GetPlaintext, last message).
	KindTailKey Kind = "tail-key"
	// KindPlaintext: clear bytes of the work (GetPlaintext); Bytes is the
	// clear bytes this client holds from this stream so far.
	KindPlaintext Kind = "plaintext"
	// KindStart: the edge's announced start of this client's plaintext
	// send (Subscribe SCHEDULE event, start_at); Start holds it.
	KindStart Kind = "start"
	// KindOpened: the client opened the work (the SDK's access time: key
	// opened, or tail key received).
	KindOpened Kind = "opened"
)

// Observation is one item a client obtained, when (the probe's clock,
// i.e. the host's real-time clock, which no fault moves) and from whom.
type Observation struct {
	Client string
	Role   Role
	Peer   string
	RPC    string
	Kind   Kind
	At     time.Time
	// Index is the share's index (KindShare).
	Index int
	// Bytes is the clear bytes held (KindPlaintext).
	Bytes int64
	// Stream distinguishes the plaintext streams of one client (each
	// GetPlaintext call starts again from byte 0).
	Stream int
	// Start is the announced plaintext start (KindStart).
	Start time.Time
}

// DefaultTolerance is the clock tolerance of every comparison with T.
// docs/release.md, "Early access, precisely": "times are the
// consortium's (each peer within 500 ms of its peers' median, step 5)";
// step 5: a key server more than 500 ms off the median refuses to
// release, edges whose clock is off hold shares back; step 6: peers refuse
// a share "arrived before T beyond the skew bound". So a peer whose
// clock is ahead by up to 500 ms is within the rules and may act up to
// 500 ms before T by the real clock; anything earlier breaks them. The
// probe's clock is the host's real-time clock, which the chaos clock
// hook never moves (it offsets one node's process clock), and with one
// node skewed at a time the peers' median is the host clock. Network
// delay only makes an observation later, so it needs no allowance. The
// NTP-style measurement (step 5) also discounts half the shortest round
// trip between peers, which on one host is well under a millisecond and
// is not added.
const DefaultTolerance = 500 * time.Millisecond

// MaxEdgeLead is the earliest a trusted edge may start a client's
// plaintext: "never before T - 2 h" (docs/release.md, "Early access").
const MaxEdgeLead = 2 * time.Hour

// Rules are what Evaluate judges observations by.
type Rules struct {
	// ReleaseAt is T, from the record on chain.
	ReleaseAt time.Time
	// Size is the work's size in bytes.
	Size int64
	// Tolerance is the clock tolerance (DefaultTolerance when 0).
	Tolerance time.Duration
}

// PrefixAllowance is the clear bytes an edge-decrypt client may hold
// before T (docs/release.md, "Early access, precisely": "at most the work
// minus the tail, i.e. at most 75% of the work, less for works under
// 4 MiB, nothing of a work of 1 MiB or less"; step 7: the tail is "the
// last max(25%, 1 MiB) of the work ..., all of a smaller work"). 75% is
// taken as floor(3/4 size): the document bounds the prefix by 75% of the
// work, whole bytes.
func PrefixAllowance(size int64) int64 {
	const tailMin = 1 << 20
	if size <= tailMin {
		return 0
	}
	return min(size-tailMin, size*3/4)
}

// Opened is a client that opened the work.
type Opened struct {
	Client string
	Role   Role
	Peer   string
	At     time.Time
	// AfterT is At - T (negative: before T).
	AfterT time.Duration
}

// Result is what the probe saw and what breaks the rules.
type Result struct {
	// KeyBefore: a share or a key (tail key) obtained by a client before
	// T beyond the tolerance. Clients are never key servers or trusted
	// edges, so every such item is a violation.
	KeyBefore []string
	// PlaintextEarly: an edge-decrypt client holding, before T beyond the
	// tolerance, more clear bytes than PrefixAllowance, or any clear byte
	// before its start (the edge's announced start, and never before
	// T - 2 h).
	PlaintextEarly []string
	// OpenedEarly: a client whose access time is before T beyond the
	// tolerance (what `folio release report` counts as early access).
	OpenedEarly []string
	// Opened lists the clients that opened the work, by time.
	Opened []Opened
	// Errors: what failed (fetches under faults, the adversary's
	// unexpected answers). Not violations.
	Errors []string
	// Answers counts the adversary's answers: "peer RPC code" -> count
	// (code "ok" for an answer with content).
	Answers map[string]int
	// Seen notes what the peers said about clocks and early shares
	// (GetReleaseStatus: early_shares, clock_skew_ms beyond the bound).
	Seen []string
	// Observations are the raw items obtained, in time order.
	Observations []Observation
	// ReleaseAt, EndAt and Release identify the release.
	ReleaseAt, EndAt time.Time
	Release, Work    string
}

// Violations lists every broken promise, each prefixed by its kind.
func (r Result) Violations() []string {
	var out []string
	for _, s := range r.KeyBefore {
		out = append(out, "key before T: "+s)
	}
	for _, s := range r.PlaintextEarly {
		out = append(out, "plaintext early: "+s)
	}
	for _, s := range r.OpenedEarly {
		out = append(out, "opened early: "+s)
	}
	return out
}

// Evaluate judges observations by the rules; it fills KeyBefore,
// PlaintextEarly, OpenedEarly, Opened and Observations (sorted by time).
// Repeated items (the same share from the same peer by the same RPC) are
// reported once, at their first arrival.
func Evaluate(obs []Observation, r Rules) Result {
	tol := r.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	obs = append([]Observation(nil), obs...)
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].At.Before(obs[j].At) })
	res := Result{Observations: obs, ReleaseAt: r.ReleaseAt}
	// early reports whether t is before T beyond the tolerance.
	early := func(t time.Time) bool { return t.Before(r.ReleaseAt.Add(-tol)) }
	rel := func(t time.Time) string { return fmt.Sprintf("T%+.3fs", t.Sub(r.ReleaseAt).Seconds()) }
	allow := PrefixAllowance(r.Size)
	type key struct {
		client, peer, rpc string
		kind              Kind
		index, stream     int
	}
	seen := map[key]bool{}
	once := func(k key) bool {
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	// starts: the earliest start an edge announced to a client (the most
	// lenient reading of the edge's word; a later announcement may move
	// it, and the edge may start at either).
	type cp struct{ client, peer string }
	starts := map[cp]time.Time{}
	for _, o := range obs {
		k := key{o.Client, o.Peer, o.RPC, o.Kind, 0, 0}
		switch o.Kind {
		case KindShare:
			k.index = o.Index
			if early(o.At) && once(k) {
				res.KeyBefore = append(res.KeyBefore, fmt.Sprintf("%s (%s) got share %d from %s by %s at %s", o.Client, o.Role, o.Index, o.Peer, o.RPC, rel(o.At)))
			}
		case KindTailKey:
			if early(o.At) && once(k) {
				res.KeyBefore = append(res.KeyBefore, fmt.Sprintf("%s (%s) got the tail key from %s by %s at %s", o.Client, o.Role, o.Peer, o.RPC, rel(o.At)))
			}
		case KindStart:
			if s, ok := starts[cp{o.Client, o.Peer}]; !ok || o.Start.Before(s) {
				starts[cp{o.Client, o.Peer}] = o.Start
			}
		case KindPlaintext:
			if o.Bytes <= 0 || !early(o.At) {
				continue
			}
			k.stream = o.Stream
			switch {
			case o.Bytes > allow:
				k.index = 1
				if once(k) {
					res.PlaintextEarly = append(res.PlaintextEarly, fmt.Sprintf("%s (%s) held %d clear bytes from %s at %s, more than the %d allowed before T for a %d-byte work", o.Client, o.Role, o.Bytes, o.Peer, rel(o.At), allow, r.Size))
				}
			case o.At.Before(r.ReleaseAt.Add(-MaxEdgeLead - tol)):
				k.index = 2
				if once(k) {
					res.PlaintextEarly = append(res.PlaintextEarly, fmt.Sprintf("%s (%s) held %d clear bytes from %s at %s, before T - 2 h", o.Client, o.Role, o.Bytes, o.Peer, rel(o.At)))
				}
			default:
				if s, ok := starts[cp{o.Client, o.Peer}]; ok && o.At.Before(s.Add(-tol)) {
					k.index = 3
					if once(k) {
						res.PlaintextEarly = append(res.PlaintextEarly, fmt.Sprintf("%s (%s) held %d clear bytes from %s at %s, before its start %s", o.Client, o.Role, o.Bytes, o.Peer, rel(o.At), rel(s)))
					}
				}
			}
		case KindOpened:
			res.Opened = append(res.Opened, Opened{Client: o.Client, Role: o.Role, Peer: o.Peer, At: o.At, AfterT: o.At.Sub(r.ReleaseAt)})
			if early(o.At) {
				res.OpenedEarly = append(res.OpenedEarly, fmt.Sprintf("%s (%s) opened the work via %s at %s", o.Client, o.Role, o.Peer, rel(o.At)))
			}
		}
	}
	return res
}
