package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/crypto"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func newExternal(t testing.TB, b byte) *External {
	t.Helper()
	x, err := NewExternal(key(b))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestExternalRoundTrip(t *testing.T) {
	x := newExternal(t, 1)
	for _, e := range []Entry{
		{Value: []byte("hello"), Version: abi.KeyVersion{Block: 7, Tx: 2}, ValidFrom: 8},
		{Value: []byte{}, Version: abi.KeyVersion{Block: 0, Tx: 0}, ValidFrom: 1},
		{Absent: true, ValidFrom: 12},
		{Absent: true, Version: abi.KeyVersion{Block: 3, Tx: 1}, ValidFrom: 4},
	} {
		blob, err := x.Seal("ns", "k", e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := x.Open("ns", "k", blob)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Value, e.Value) || got.Absent != e.Absent || got.Version != e.Version || got.ValidFrom != e.ValidFrom {
			t.Fatalf("round trip %+v -> %+v", e, got)
		}
		if !e.Absent && got.Value == nil {
			t.Fatal("empty value came back as nil")
		}
	}
	a, _ := x.Seal("ns", "k", Entry{Value: []byte("v")})
	b, _ := x.Seal("ns", "k", Entry{Value: []byte("v")})
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one entry are equal: nonces are not fresh")
	}
}

// TestExternalBinding: a blob opens only for its own namespace and key,
// with its own header, under its own root.
func TestExternalBinding(t *testing.T) {
	x := newExternal(t, 1)
	blob, err := x.Seal("ns", "k1", Entry{Value: []byte("one"), Version: abi.KeyVersion{Block: 5, Tx: 0}, ValidFrom: 6})
	if err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() (Entry, error){
		"other key":       func() (Entry, error) { return x.Open("ns", "k2", blob) },
		"other namespace": func() (Entry, error) { return x.Open("nt", "k1", blob) },
		"shifted split":   func() (Entry, error) { return x.Open("nsk", "1", blob) },
		"other root":      func() (Entry, error) { return newExternal(t, 2).Open("ns", "k1", blob) },
		"relabelled version": func() (Entry, error) {
			b := append([]byte(nil), blob...)
			b[2] = 9 // block 5 -> 9
			return x.Open("ns", "k1", b)
		},
		"absent flag set": func() (Entry, error) {
			b := append([]byte(nil), blob...)
			b[1] = flagAbsent
			return x.Open("ns", "k1", b)
		},
	} {
		if _, err := open(); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", name, err)
		}
	}
	// Every single-byte change is refused.
	for i := range blob {
		b := append([]byte(nil), blob...)
		b[i] ^= 0x40
		if _, err := x.Open("ns", "k1", b); err == nil {
			t.Fatalf("byte %d flipped: opened", i)
		} else if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if _, err := x.Open("ns", "k1", blob[:5]); err == nil {
		t.Fatal("truncated blob opened")
	}
	if !errors.Is(ErrAuth, crypto.ErrOpen) {
		t.Fatal("ErrAuth does not wrap crypto.ErrOpen")
	}
}

func TestStateDeterministic(t *testing.T) {
	a, err := NewState(key(9))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewState(key(9)) // another organisation's enclave, same key file
	v := []byte(`{"id":"W1","owner":"alice@Org1"}`)
	s1, _ := a.Seal("tx1", "copyright", "work1", v)
	s2, _ := b.Seal("tx1", "copyright", "work1", v)
	if !bytes.Equal(s1, s2) {
		t.Fatal("two enclaves with one state key sealed differently")
	}
	got, err := b.Open("copyright", "work1", s1)
	if err != nil || !bytes.Equal(got, v) {
		t.Fatalf("open: %q, %v", got, err)
	}
	// Another tx, key or plaintext gives another nonce.
	n := a.Nonce("tx1", "copyright", "work1", v)
	for name, m := range map[string][]byte{
		"tx":        a.Nonce("tx2", "copyright", "work1", v),
		"key":       a.Nonce("tx1", "copyright", "work2", v),
		"namespace": a.Nonce("tx1", "other", "work1", v),
		"plaintext": a.Nonce("tx1", "copyright", "work1", []byte("other")),
	} {
		if bytes.Equal(n, m) {
			t.Errorf("same nonce for another %s", name)
		}
	}
	if _, err := a.Open("copyright", "work2", s1); !errors.Is(err, ErrAuth) {
		t.Errorf("moved to another key: %v", err)
	}
	c, _ := NewState(key(8))
	if _, err := c.Open("copyright", "work1", s1); !errors.Is(err, ErrAuth) {
		t.Errorf("other state key: %v", err)
	}
	if _, err := a.Open("copyright", "work1", []byte("plain json")); !errors.Is(err, ErrMalformed) {
		t.Errorf("plaintext: %v", err)
	}
	e, _ := a.Seal("tx", "ns", "k", nil)
	if v, err := a.Open("ns", "k", e); err != nil || v == nil || len(v) != 0 {
		t.Errorf("empty value: %q %v", v, err)
	}
}

func TestParseStateKey(t *testing.T) {
	raw := key(3)
	if k, err := ParseStateKey(raw); err != nil || !bytes.Equal(k, raw) {
		t.Fatal("raw key")
	}
	hexKey := strings.Repeat("0a", 32) + "\n"
	if k, err := ParseStateKey([]byte(hexKey)); err != nil || k[0] != 0x0a || len(k) != 32 {
		t.Fatalf("hex key: %v", err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("zz", 32)} {
		if _, err := ParseStateKey([]byte(bad)); !errors.Is(err, ErrKey) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := NewExternal([]byte("short")); !errors.Is(err, ErrKey) {
		t.Error("short root accepted")
	}
}

// FuzzExternalOpen: no input panics Open, and whatever opens is the one
// entry ever sealed under that key and associated data (blobs differ
// between fuzzing processes: the nonce is fresh).
func FuzzExternalOpen(f *testing.F) {
	x := newExternal(f, 1)
	want := Entry{Value: []byte("value"), Version: abi.KeyVersion{Block: 3, Tx: 4}, ValidFrom: 4}
	good, _ := x.Seal("ns", "k", want)
	f.Add(good)
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, blob []byte) {
		e, err := x.Open("ns", "k", blob)
		if err == nil && (!bytes.Equal(e.Value, want.Value) || e.Version != want.Version || e.ValidFrom != want.ValidFrom || e.Absent) {
			t.Fatalf("forged blob opened: %+v", e)
		}
	})
}

// FuzzStateOpen: likewise for confidential state values.
func FuzzStateOpen(f *testing.F) {
	s, _ := NewState(key(5))
	good, _ := s.Seal("tx", "ns", "k", []byte("secret"))
	f.Add(good)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, blob []byte) {
		if _, err := s.Open("ns", "k", blob); err == nil && !bytes.Equal(blob, good) {
			t.Fatal("forged state value opened")
		}
	})
}
