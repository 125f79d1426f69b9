package kv_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/folio-ledger/folio/internal/kv"
)

func TestPrefixEnd(t *testing.T) {
	cases := []struct{ in, want []byte }{
		{[]byte("abc"), []byte("abd")},
		{[]byte{0x01, 0xff}, []byte{0x02}},
		{[]byte{0xff, 0xff}, nil},
		{nil, nil},
	}
	for _, c := range cases {
		if got := kv.PrefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("PrefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
	}
	// Every key with the prefix sorts below the end.
	p := []byte{0x10, 0xff}
	end := kv.PrefixEnd(p)
	for _, k := range [][]byte{p, append(p, 0xff, 0xff), append(p, 0)} {
		if bytes.Compare(k, end) >= 0 {
			t.Errorf("%x >= PrefixEnd %x", k, end)
		}
	}
}

func TestAppendUint64Sorts(t *testing.T) {
	vals := []uint64{0, 1, 255, 256, 1 << 32, 1<<64 - 1}
	for i := 1; i < len(vals); i++ {
		a, b := kv.AppendUint64(nil, vals[i-1]), kv.AppendUint64(nil, vals[i])
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("%d does not sort below %d", vals[i-1], vals[i])
		}
	}
}

func TestErrorClasses(t *testing.T) {
	cause := errors.New("checksum mismatch")
	err := fmt.Errorf("reading block: %w", &kv.CorruptionError{Op: "get", Err: cause})
	if !errors.Is(err, kv.ErrCorruption) || !errors.Is(err, cause) {
		t.Fatalf("corruption error does not match its classes: %v", err)
	}
	var ce *kv.CorruptionError
	if !errors.As(err, &ce) || ce.Op != "get" {
		t.Fatalf("errors.As failed")
	}
	fv := &kv.FormatVersionError{Dir: "/x", OnDisk: 3, Supported: 2}
	if !errors.Is(fv, kv.ErrFormatTooNew) {
		t.Fatal("newer format must match ErrFormatTooNew")
	}
	if errors.Is(&kv.FormatVersionError{OnDisk: 1, Supported: 2}, kv.ErrFormatTooNew) {
		t.Fatal("older format must not match ErrFormatTooNew")
	}
	if err := kv.CheckRange([]byte("b"), []byte("a"), false); !errors.Is(err, kv.ErrInvalidRange) {
		t.Fatalf("CheckRange = %v", err)
	}
	if err := kv.CheckRange(nil, nil, true); !errors.Is(err, kv.ErrInvalidRange) {
		t.Fatalf("CheckRange without upper = %v", err)
	}
	if err := kv.CheckRange(nil, nil, false); err != nil {
		t.Fatalf("unbounded range rejected: %v", err)
	}
}
