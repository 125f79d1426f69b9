package release

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/keys"
)

func TestShareBoxAccepts(t *testing.T) {
	f := newKeyFixture(t, 3, 2)
	sig := newSignal()
	b := newShareBox(&f.rec, tT, 500*time.Millisecond, sig)
	ch := sig.C()
	ks, fresh, err := b.accept(f.statement(t, 2, tT), "peer1.org1", tT)
	if err != nil || !fresh || ks.Name != "peer0.org2" {
		t.Fatalf("a valid share at T: %v %v %+v", fresh, err, ks)
	}
	if !notified(ch) {
		t.Fatal("a new share was not signalled")
	}
	ch = sig.C()
	if _, fresh, err := b.accept(f.statement(t, 2, tT.Add(time.Second)), "peer1.org2", tT.Add(time.Second)); err != nil || fresh {
		t.Fatalf("the same share again (another statement): fresh %v, %v", fresh, err)
	}
	if notified(ch) {
		t.Fatal("a share already held was signalled")
	}
	// Within the skew bound before T by this clock, with a statement at T.
	if _, fresh, err := b.accept(f.statement(t, 1, tT), "peer0.org1", tT.Add(-400*time.Millisecond)); err != nil || !fresh {
		t.Fatalf("a share arriving within the skew bound: %v %v", fresh, err)
	}
	if got := b.held(); fmt.Sprint(got) != "[1 2]" || b.count() != 2 {
		t.Fatalf("held %v", got)
	}
	st := b.statements()
	if len(st) != 2 || st[0].Index != 1 || st[1].Index != 2 || st[0].Relayed {
		t.Fatalf("statements %+v", st)
	}
	if !b.markRelayed(1) || b.markRelayed(1) {
		t.Fatal("a share is relayed exactly once")
	}
}

func TestShareBoxRefuses(t *testing.T) {
	f := newKeyFixture(t, 3, 2)
	b := newShareBox(&f.rec, tT, 500*time.Millisecond, newSignal())
	forged := f.statement(t, 1, tT)
	raw, _ := hex.DecodeString(forged.Share)
	raw[1] ^= 1
	forged.Share = hex.EncodeToString(raw)
	otherSigner := f.statement(t, 2, tT)
	otherSigner.Index, otherSigner.Share = 1, f.statement(t, 1, tT).Share
	badSig := f.statement(t, 3, tT)
	badSig.Sig = f.statement(t, 3, tT.Add(time.Second)).Sig // signs another time
	for _, c := range []struct {
		name string
		msg  string
		err  error
		m    func() (release.KeyServer, bool, error)
	}{
		{"not the committed share", "commitment", keys.ErrForged, func() (release.KeyServer, bool, error) { return b.accept(forged, "p", tT) }},
		{"signed by another key server", "not by its key server", keys.ErrForged, func() (release.KeyServer, bool, error) { return b.accept(otherSigner, "p", tT) }},
		{"signature over another statement", "does not verify", keys.ErrForged, func() (release.KeyServer, bool, error) { return b.accept(badSig, "p", tT) }},
		{"stated before T", "before the release time", ErrTooEarly, func() (release.KeyServer, bool, error) {
			return b.accept(f.statement(t, 1, tT.Add(-time.Millisecond)), "p", tT.Add(time.Second))
		}},
		{"arrived before T beyond the skew bound", "before the release time", ErrTooEarly, func() (release.KeyServer, bool, error) {
			return b.accept(f.statement(t, 1, tT), "p", tT.Add(-600*time.Millisecond))
		}},
	} {
		_, fresh, err := c.m()
		if fresh || !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: fresh %v, %v; want %v (%q)", c.name, fresh, err, c.err, c.msg)
		}
	}
	if b.count() != 0 {
		t.Fatalf("refused shares held: %v", b.held())
	}
	if notes := b.earlyNotes(); len(notes) != 2 || !strings.Contains(notes[0], "stated sent at") {
		t.Fatalf("early notes %q", notes)
	}
	// A key server sending early again and again cannot grow the notes.
	for range 2 * maxEarlyNotes {
		_, _, _ = b.accept(f.statement(t, 1, tT.Add(-time.Hour)), "p", tT)
	}
	if n := len(b.earlyNotes()); n != maxEarlyNotes {
		t.Fatalf("%d early notes, want the bound %d", n, maxEarlyNotes)
	}
}
