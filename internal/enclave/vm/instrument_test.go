package vm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

func sec(id byte, body ...byte) []byte {
	return append(binary.AppendUvarint([]byte{id}, uint64(len(body))), body...)
}

func wname(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var wasmHeader = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

// moduleWithGlobals imports one global and defines one, with a function
// holding a loop inside a block.
func moduleWithGlobals() []byte {
	body := []byte{0x00, 0x02, 0x40, 0x03, 0x40, 0x23, 0x00, 0x0d, 0x01, 0x0b, 0x0b, 0x0b} // block loop global.get 0 br_if 1 end end
	return join(wasmHeader,
		sec(1, 0x01, 0x60, 0x00, 0x00),
		sec(2, join([]byte{0x01}, wname("env"), wname("g"), []byte{0x03, 0x7f, 0x00})...),
		sec(3, 0x01, 0x00),
		sec(6, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b),
		sec(7, join([]byte{0x01}, wname("f"), []byte{0x00, 0x00})...),
		sec(0, join(wname(".debug_info"), []byte{1, 2, 3})...),
		sec(10, join([]byte{0x01, byte(len(body))}, body)...),
		sec(0, join(wname("keep.me"), []byte{0})...),
	)
}

func compiles(t testing.TB, wasm []byte) error {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err == nil {
		cm.Close(ctx)
	}
	return err
}

func TestInstrument(t *testing.T) {
	in := moduleWithGlobals()
	if err := compiles(t, in); err != nil {
		t.Fatal(err)
	}
	out, err := instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := compiles(t, out); err != nil {
		t.Fatalf("instrumented module does not validate: %v", err)
	}
	// The new globals are 2 and 3 (after the imported and the defined one).
	if !bytes.Contains(out, append([]byte{0x03, 0x40}, loopCheck(2, 3, false)...)) {
		t.Fatalf("loop check missing: %x", out)
	}
	if !bytes.Contains(out, join(wname(budgetExport), []byte{0x03, 0x02})) || !bytes.Contains(out, join(wname(interruptExport), []byte{0x03, 0x03})) {
		t.Fatal("global exports missing")
	}
	if bytes.Contains(out, []byte(".debug_info")) || !bytes.Contains(out, []byte("keep.me")) {
		t.Fatal("custom sections: DWARF must go, others stay")
	}
}

func TestInstrumentAddsSections(t *testing.T) {
	// No global and no export section: both are created in order; with a
	// memory, the check leaves for Go through memory.grow.
	in := join(wasmHeader,
		sec(1, 0x01, 0x60, 0x00, 0x00),
		sec(3, 0x01, 0x00),
		sec(5, 0x01, 0x00, 0x01),
		sec(10, 0x01, 0x05, 0x00, 0x03, 0x40, 0x0b, 0x0b),
	)
	out, err := instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := compiles(t, out); err != nil {
		t.Fatalf("%v: %x", err, out)
	}
	if !bytes.Contains(out, loopCheck(0, 1, true)) {
		t.Fatalf("loop check with memory.grow missing: %x", out)
	}
}

// TestInterruptReachesTightLoop runs a guest loop that never calls out,
// forces garbage collections meanwhile (each stops the world, which must
// not wait for the guest forever), and interrupts it.
func TestInterruptReachesTightLoop(t *testing.T) {
	body := []byte{0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b} // loop br 0 end
	in := join(wasmHeader,
		sec(1, 0x01, 0x60, 0x00, 0x00),
		sec(3, 0x01, 0x00),
		sec(5, 0x01, 0x00, 0x01),
		sec(7, join([]byte{0x01}, wname("spin"), []byte{0x00, 0x00})...),
		sec(10, join([]byte{0x01, byte(len(body))}, body)...),
	)
	out, err := instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	inst := &instance{
		interrupt: mod.ExportedGlobal(interruptExport).(api.MutableGlobal),
		budget:    mod.ExportedGlobal(budgetExport).(api.MutableGlobal),
	}
	stopGC := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopGC:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer close(stopGC)
	start := time.Now()
	_, stopped, err := inst.call(ctx, mod.ExportedFunction("spin"), 300*time.Millisecond, errCallTimeout)
	if stopped != errCallTimeout || err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("stopped %v, err %v", stopped, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("interrupt took %v", d)
	}
}

func TestInstrumentRejects(t *testing.T) {
	for _, name := range reservedExports {
		reserved := join(wasmHeader, sec(7, join([]byte{0x01}, wname(name), []byte{0x00, 0x00})...))
		if _, err := instrument(reserved); !errors.Is(err, ErrInvalidModule) {
			t.Fatalf("reserved export %s: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"short":          {0, 'a', 's'},
		"version 2":      {0, 'a', 's', 'm', 2, 0, 0, 0},
		"section length": join(wasmHeader, []byte{1, 0x7f}),
		"bad opcode":     join(wasmHeader, sec(10, 0x01, 0x03, 0x00, 0xff, 0x0b)),
		"truncated body": join(wasmHeader, sec(10, 0x01, 0x09, 0x00)),
		"bad import":     join(wasmHeader, sec(2, 0x01, 0x00, 0x00, 0x09)),
	} {
		if _, err := instrument(b); !errors.Is(err, errInstrument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzInstrument: the rewriter never panics, and whatever validated
// before it still validates after it.
func FuzzInstrument(f *testing.F) {
	f.Add(moduleWithGlobals())
	f.Add(join(wasmHeader, sec(1, 0x01, 0x60, 0x00, 0x00), sec(3, 0x01, 0x00), sec(10, 0x01, 0x05, 0x00, 0x03, 0x40, 0x0b, 0x0b)))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := instrument(b)
		if err != nil {
			return
		}
		if compiles(t, b) == nil {
			if err := compiles(t, out); err != nil {
				t.Fatalf("valid module broken by instrumentation: %v", err)
			}
		}
	})
}

// TestGrowRefusedIsRecorded checks the memory.grow wrapper: a growth within
// the memory's maximum returns the old size and leaves the flag clear; one
// beyond it returns -1 and sets the flag.
func TestGrowRefusedIsRecorded(t *testing.T) {
	// (func (param i32) (result i32) local.get 0 memory.grow)
	body := []byte{0x00, 0x20, 0x00, 0x40, 0x00, 0x0b}
	in := join(wasmHeader,
		sec(1, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f),
		sec(3, 0x01, 0x00),
		sec(5, 0x01, 0x01, 0x01, 0x03), // memory min 1 max 3
		sec(7, join([]byte{0x01}, wname("grow"), []byte{0x00, 0x00})...),
		sec(10, join([]byte{0x01, byte(len(body))}, body)...),
	)
	out, err := instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	inst := &instance{oom: mod.ExportedGlobal(oomExport)}
	grow := mod.ExportedFunction("grow")
	if res, err := grow.Call(ctx, 1); err != nil || res[0] != 1 || inst.growRefused() {
		t.Fatalf("grow within max: %v %v refused=%v", res, err, inst.growRefused())
	}
	if res, err := grow.Call(ctx, 5); err != nil || uint32(res[0]) != 0xffffffff || !inst.growRefused() {
		t.Fatalf("grow beyond max: %v %v refused=%v", res, err, inst.growRefused())
	}
}
