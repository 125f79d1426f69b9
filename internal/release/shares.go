package release

import (
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// maxEarlyNotes bounds the refused early shares a release remembers (for
// status): a key server cannot grow a peer's memory by sending shares
// before the release time.
const maxEarlyNotes = 64

// shareBox holds the released shares of one release this peer has
// verified, with their key servers' signed statements: what its
// subscribers receive after the release time, what GetShares answers and
// what it relays to the other peers once.
//
// Lock rules: mu guards the maps and notes; it is never held while
// calling out of the box (notify only, a leaf).
type shareBox struct {
	rec       *release.Record
	releaseAt time.Time
	maxSkew   time.Duration
	changed   *signal

	mu struct {
		sync.Mutex
		// shares by index, with when each arrived here.
		shares  map[int]wire.ShareMsg
		arrived map[int]time.Time
		// relayed marks the shares this peer forwarded (or released) to
		// the others: each goes out once.
		relayed map[int]bool
		// early notes the refused shares that came before the release
		// time (at most maxEarlyNotes).
		early []string
	}
}

func newShareBox(rec *release.Record, releaseAt time.Time, maxSkew time.Duration, changed *signal) *shareBox {
	b := &shareBox{rec: rec, releaseAt: releaseAt, maxSkew: maxSkew, changed: changed}
	b.mu.shares = map[int]wire.ShareMsg{}
	b.mu.arrived = map[int]time.Time{}
	b.mu.relayed = map[int]bool{}
	return b
}

// verifyShare checks a share statement against the record: the share is
// the committed one, signed by its key server's node key. It returns the
// key server and the stated send time.
func verifyShare(rec *release.Record, m wire.ShareMsg) (release.KeyServer, time.Time, error) {
	share, err := hex.DecodeString(m.Share)
	if err != nil {
		return release.KeyServer{}, time.Time{}, fmt.Errorf("%w: share is not hex", keys.ErrForged)
	}
	if err := keys.CheckShare(rec, m.Index, share); err != nil {
		return release.KeyServer{}, time.Time{}, err
	}
	ks, ok := rec.KeyServer(m.Index)
	if !ok {
		return release.KeyServer{}, time.Time{}, fmt.Errorf("%w: no key server %d", keys.ErrForged, m.Index)
	}
	sentAt, err := time.Parse(time.RFC3339Nano, m.SentAt)
	if err != nil {
		return ks, time.Time{}, fmt.Errorf("%w: share %d: sent_at %q", keys.ErrForged, m.Index, m.SentAt)
	}
	sig, err1 := hex.DecodeString(m.Sig)
	pub, err2 := hex.DecodeString(ks.NodeKey)
	if err1 != nil || err2 != nil {
		return ks, time.Time{}, fmt.Errorf("%w: share %d: signature or node key is not hex", keys.ErrForged, m.Index)
	}
	if m.NodeID != ks.NodeID {
		return ks, time.Time{}, fmt.Errorf("%w: share %d signed by node %s, not by its key server %s", keys.ErrForged, m.Index, short(m.NodeID), ks.Name)
	}
	if err := release.VerifyP256(pub, release.DomainShare, release.ShareStatement(rec.ID, m.Index, share, sentAt, ks.NodeID), sig); err != nil {
		return ks, time.Time{}, fmt.Errorf("%w: share %d: key server %s's signature does not verify", keys.ErrForged, m.Index, ks.Name)
	}
	return ks, sentAt, nil
}

// accept checks a released share (from names where it came from) and
// keeps it. It refuses forged shares, statements that say they were sent
// before the release time, and shares that arrive before the release
// time (beyond the clock skew bound) by this peer's clock at now; early
// ones are noted for status. It returns the share's key server and
// whether the share is new here.
func (b *shareBox) accept(m wire.ShareMsg, from string, now time.Time) (ks release.KeyServer, fresh bool, err error) {
	ks, sentAt, err := verifyShare(b.rec, m)
	if err != nil {
		return ks, false, err
	}
	if sentAt.Before(b.releaseAt) || now.Before(b.releaseAt.Add(-b.maxSkew)) {
		note := fmt.Sprintf("share %d from %s (key server %s), stated sent at %s, arrived at %s: before the release time %s",
			m.Index, from, ks.Name, m.SentAt, now.UTC().Format(time.RFC3339Nano), b.rec.ReleaseAt)
		b.mu.Lock()
		if len(b.mu.early) < maxEarlyNotes {
			b.mu.early = append(b.mu.early, note)
		}
		b.mu.Unlock()
		return ks, false, fmt.Errorf("%w: %s", ErrTooEarly, note)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.mu.shares[m.Index]; ok {
		return ks, false, nil
	}
	m.Relayed = false
	b.mu.shares[m.Index] = m
	b.mu.arrived[m.Index] = now
	b.changed.notify()
	return ks, true, nil
}

// markRelayed records that share index goes out to the other peers; it
// reports false if it already did (relay once).
func (b *shareBox) markRelayed(index int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.relayed[index] {
		return false
	}
	b.mu.relayed[index] = true
	return true
}

// count is the number of shares held.
func (b *shareBox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.mu.shares)
}

// held lists the indexes of the shares held, sorted.
func (b *shareBox) held() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return sortedKeys(b.mu.shares)
}

// statements returns the shares held with their signed statements, by
// index.
func (b *shareBox) statements() []wire.ShareMsg {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]wire.ShareMsg, 0, len(b.mu.shares))
	for _, i := range sortedKeys(b.mu.shares) {
		out = append(out, b.mu.shares[i])
	}
	return out
}

// earlyNotes returns the refused early shares' notes.
func (b *shareBox) earlyNotes() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.mu.early...)
}

func sortedKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
