package vm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Interrupting a running contract.
//
// wazero can stop a call when its context is done (WithCloseOnContextDone),
// but it does so by leaving machine code for a Go function on every loop
// iteration, which makes Go-compiled contracts about four times slower.
// Instead, Load rewrites every module once. It adds two mutable i32
// globals, exported as budgetExport and interruptExport, and puts this at
// the head of every loop:
//
//	loop ...
//	  global.get $budget  i32.const 1  i32.sub  global.set $budget
//	  global.get $budget  i32.const 0  i32.le_s
//	  if
//	    i32.const 0  memory.grow  drop      ;; leave machine code for Go
//	    global.get $interrupt
//	    if  unreachable  end
//	    i32.const loopBudget  global.set $budget
//	  end
//	  ...
//
// A loop iteration costs a load, a store and a branch. Every loopBudget
// iterations the guest leaves machine code for Go (wazero implements
// memory.grow in Go; growing by 0 pages changes nothing): machine code
// cannot be preempted, so without these exits a tight guest loop would
// block the Go runtime's stop-the-world phases, and with them the timer
// that is to interrupt it. To stop a call the host sets $interrupt to 1 and
// $budget to 0 from another goroutine; the guest traps at its next loop
// iteration (straight-line code always ends; recursion ends in a stack
// overflow). An instance that was interrupted is discarded.
//
// The rewrite also wraps every memory.grow of the module so that a refused
// growth (the memory limit) sets the global exported as oomExport:
//
//	memory.grow  global.set $tmp
//	global.get $tmp  i32.const -1  i32.eq
//	if  i32.const 1  global.set $oom  end
//	global.get $tmp
//
// so the host tells memory exhaustion from other failures exactly, whatever
// the guest's runtime prints.

// Export names of the globals. Modules may not export these names.
const (
	interruptExport = "__folio_interrupt"
	budgetExport    = "__folio_budget"
	oomExport       = "__folio_oom"
)

var reservedExports = []string{interruptExport, budgetExport, oomExport}

// loopBudget is how many loop iterations run between two exits to Go: at
// a few nanoseconds each, a stop-the-world waits at most some tens of µs.
const loopBudget = 10000

// errInstrument marks modules the rewriter cannot parse.
var errInstrument = errors.New("cannot instrument module")

const (
	secCustom    = 0
	secImport    = 2
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secCode      = 10
	extMemory    = 2
	extGlobal    = 3
	opLoop       = 0x03
	opGlobalGet  = 0x23
	opGlobalSet  = 0x24
	opMemoryGrow = 0x40
)

// sectionOrder is the position of each known section id in a module.
var sectionOrder = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type section struct {
	id   byte
	body []byte
}

// instrument returns wasm with the interrupt global and loop checks added.
func instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte{0, 'a', 's', 'm', 1, 0, 0, 0}) {
		return nil, fmt.Errorf("%w: not a WebAssembly 1.0 binary (bad magic or version)", errInstrument)
	}
	r := &reader{b: wasm[8:]}
	var secs []section
	for !r.done() {
		id := r.byte()
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("%w: section %d: %v", errInstrument, id, r.err)
		}
		if id == secCustom {
			name := (&reader{b: body}).name()
			if strings.HasPrefix(name, ".debug") {
				continue // DWARF offsets would no longer match the code
			}
		}
		secs = append(secs, section{id, body})
	}

	importedGlobals, definedGlobals, memories := 0, 0, 0
	for _, s := range secs {
		switch s.id {
		case secImport:
			g, m, err := countImports(s.body)
			if err != nil {
				return nil, err
			}
			importedGlobals, memories = g, memories+m
		case secGlobal:
			definedGlobals = int((&reader{b: s.body}).u32())
		case secMemory:
			memories += int((&reader{b: s.body}).u32())
		}
	}
	budget := uint32(importedGlobals + definedGlobals)
	interrupt, tmp, oom := budget+1, budget+2, budget+3
	rw := rewrites{check: loopCheck(budget, interrupt, memories > 0), grow: growCheck(tmp, oom)}

	newGlobals := [][]byte{mutableI32(loopBudget), mutableI32(0), mutableI32(0), mutableI32(0)}
	newExports := [][]byte{exportGlobal(budgetExport, budget), exportGlobal(interruptExport, interrupt), exportGlobal(oomExport, oom)}
	haveGlobal, haveExport := false, false
	for i := range secs {
		s := &secs[i]
		var err error
		switch s.id {
		case secGlobal:
			s.body, err = appendToVector(s.body, newGlobals...)
			haveGlobal = true
		case secExport:
			if err = checkExportsFree(s.body); err == nil {
				s.body, err = appendToVector(s.body, newExports...)
			}
			haveExport = true
		case secCode:
			s.body, err = instrumentCode(s.body, rw)
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveGlobal {
		body, _ := appendToVector([]byte{0}, newGlobals...)
		secs = insertSection(secs, section{secGlobal, body})
	}
	if !haveExport {
		body, _ := appendToVector([]byte{0}, newExports...)
		secs = insertSection(secs, section{secExport, body})
	}

	out := append(make([]byte, 0, len(wasm)+len(wasm)/16), wasm[:8]...)
	for _, s := range secs {
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(s.body)))
		out = append(out, s.body...)
	}
	return out, nil
}

// insertSection puts s before the first section that must follow it.
func insertSection(secs []section, s section) []section {
	at := len(secs)
	for i, x := range secs {
		if x.id != secCustom && sectionOrder[x.id] > sectionOrder[s.id] {
			at = i
			break
		}
	}
	return append(secs[:at], append([]section{s}, secs[at:]...)...)
}

func appendName(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// mutableI32 encodes a global: mutable i32 initialised to v.
func mutableI32(v int64) []byte {
	return append(appendSleb([]byte{0x7f, 0x01, 0x41}, v), 0x0b)
}

func exportGlobal(name string, idx uint32) []byte {
	return binary.AppendUvarint(append(appendName(nil, name), extGlobal), uint64(idx))
}

func appendSleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendToVector adds encoded items to a section that is a vector.
func appendToVector(body []byte, items ...[]byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", errInstrument, r.err)
	}
	out := binary.AppendUvarint(nil, uint64(n)+uint64(len(items)))
	out = append(out, r.b...)
	for _, it := range items {
		out = append(out, it...)
	}
	return out, nil
}

// countImports counts the imported globals and memories.
func countImports(body []byte) (globals, memories int, err error) {
	r := &reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0: // func: type index
			r.u32()
		case 1: // table: reftype, limits
			r.byte()
			r.limits()
		case extMemory: // memory: limits
			r.limits()
			memories++
		case extGlobal: // global: valtype, mutability
			r.byte()
			r.byte()
			globals++
		case 4: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			r.fail("import kind %d", kind)
		}
	}
	if r.err != nil {
		return 0, 0, fmt.Errorf("%w: import section: %v", errInstrument, r.err)
	}
	return globals, memories, nil
}

func checkExportsFree(body []byte) error {
	r := &reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := r.name()
		for _, reserved := range reservedExports {
			if name == reserved {
				return fmt.Errorf("%w: the module exports %q, a name reserved for the host", ErrInvalidModule, name)
			}
		}
		r.byte()
		r.u32()
	}
	if r.err != nil {
		return fmt.Errorf("%w: export section: %v", errInstrument, r.err)
	}
	return nil
}

// loopCheck is the code inserted at the head of every loop (see the top
// of this file). Without a memory there is no memory.grow to leave machine
// code with; such a module is refused by Load anyway.
func loopCheck(budget, interrupt uint32, haveMemory bool) []byte {
	g := func(op byte, idx uint32) []byte { return binary.AppendUvarint([]byte{op}, uint64(idx)) }
	var b []byte
	b = append(b, g(opGlobalGet, budget)...)
	b = append(b, 0x41, 0x01, 0x6b) // i32.const 1, i32.sub
	b = append(b, g(opGlobalSet, budget)...)
	b = append(b, g(opGlobalGet, budget)...)
	b = append(b, 0x41, 0x00, 0x4c) // i32.const 0, i32.le_s
	b = append(b, 0x04, 0x40)       // if
	if haveMemory {
		b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a) // i32.const 0, memory.grow 0, drop
	}
	b = append(b, g(opGlobalGet, interrupt)...)
	b = append(b, 0x04, 0x40, 0x00, 0x0b) // if unreachable end
	b = append(b, 0x41)
	b = appendSleb(b, loopBudget)
	b = append(b, g(opGlobalSet, budget)...)
	return append(b, 0x0b) // end
}

// growCheck replaces memory.grow (see the top of this file).
func growCheck(tmp, oom uint32) []byte {
	g := func(op byte, idx uint32) []byte { return binary.AppendUvarint([]byte{op}, uint64(idx)) }
	var b []byte
	b = append(b, opMemoryGrow, 0x00)
	b = append(b, g(opGlobalSet, tmp)...)
	b = append(b, g(opGlobalGet, tmp)...)
	b = append(b, 0x41, 0x7f, 0x46) // i32.const -1, i32.eq
	b = append(b, 0x04, 0x40, 0x41, 0x01)
	b = append(b, g(opGlobalSet, oom)...)
	b = append(b, 0x0b)
	return append(b, g(opGlobalGet, tmp)...)
}

// rewrites is what instrumentBody inserts: check after the block type of
// every loop, grow instead of every memory.grow.
type rewrites struct{ check, grow []byte }

func instrumentCode(body []byte, rw rewrites) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := binary.AppendUvarint(make([]byte, 0, len(body)+len(body)/8), uint64(n))
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		code := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("%w: function body %d: %v", errInstrument, i, r.err)
		}
		var err error
		fn, err = instrumentBody(fn[:0], code, rw)
		if err != nil {
			return nil, fmt.Errorf("%w: function body %d: %v", errInstrument, i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(fn)))
		out = append(out, fn...)
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: %d bytes after the function bodies", errInstrument, len(r.b))
	}
	return out, nil
}

// instrumentBody copies one function body with the rewrites applied.
func instrumentBody(out, code []byte, rw rewrites) ([]byte, error) {
	r := &reader{b: code}
	groups := r.u32()
	for i := uint32(0); i < groups && r.err == nil; i++ {
		r.u32()  // count
		r.byte() // valtype
	}
	out = append(out, code[:len(code)-len(r.b)]...)
	for r.err == nil && !r.done() {
		start := len(code) - len(r.b)
		op := r.byte()
		r.skipImmediates(op)
		if r.err != nil {
			break
		}
		switch op {
		case opMemoryGrow:
			out = append(out, rw.grow...)
		case opLoop:
			out = append(out, code[start:len(code)-len(r.b)]...)
			out = append(out, rw.check...)
		default:
			out = append(out, code[start:len(code)-len(r.b)]...)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

// reader decodes the parts of the binary format the rewriter needs; the
// first error sticks and later reads return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.b = nil
}

func (r *reader) done() bool { return len(r.b) == 0 }

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail("length %d exceeds %d remaining bytes", n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

// leb reads an LEB128 number of at most maxBytes bytes.
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 longer than %d bytes", maxBytes)
	return 0
}

func (r *reader) u32() uint32 { return uint32(r.leb(5)) }

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

func (r *reader) limits() {
	switch flag := r.byte(); flag {
	case 0:
		r.u32()
	case 1, 3: // max; 3 = shared
		r.u32()
		r.u32()
	default:
		r.fail("limits flag %d", flag)
	}
}

func (r *reader) blockType() {
	if len(r.b) == 0 {
		r.fail("unexpected end")
		return
	}
	switch r.b[0] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.b = r.b[1:]
	default:
		r.leb(5) // type index as s33
	}
}

func (r *reader) memarg() {
	r.u32() // align (and memory-index flag, not supported)
	r.leb(10)
}

// skipImmediates consumes the immediates of the instruction op.
func (r *reader) skipImmediates(op byte) {
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
		r.blockType()
	case op == 0x0c || op == 0x0d: // br, br_if
		r.u32()
	case op == 0x0e: // br_table
		n := r.u32()
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x10: // call
		r.u32()
	case op == 0x11: // call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select t*
		n := r.u32()
		r.bytes(int(n))
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		r.byte()
	case op == 0x41: // i32.const
		r.leb(5)
	case op == 0x42: // i64.const
		r.leb(10)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xd0: // ref.null
		r.byte()
	case op == 0xd2: // ref.func
		r.u32()
	case op == 0xfc:
		r.skipMisc(r.u32())
	case op == 0xfd:
		r.skipSIMD(r.u32())
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f ||
		op == 0x1a || op == 0x1b || (op >= 0x45 && op <= 0xc4) || op == 0xd1:
		// no immediates
	default:
		r.fail("unsupported opcode 0x%02x", op)
	}
}

func (r *reader) skipMisc(sub uint32) {
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init data, mem
		r.u32()
		r.byte()
	case sub == 9: // data.drop
		r.u32()
	case sub == 10: // memory.copy
		r.byte()
		r.byte()
	case sub == 11: // memory.fill
		r.byte()
	case sub == 12 || sub == 14: // table.init, table.copy
		r.u32()
		r.u32()
	case sub == 13 || (sub >= 15 && sub <= 17): // elem.drop, table.grow/size/fill
		r.u32()
	default:
		r.fail("unsupported opcode 0xfc %d", sub)
	}
}

func (r *reader) skipSIMD(sub uint32) {
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		r.memarg()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memarg()
		r.byte()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.byte()
	case sub <= 275:
		// every other SIMD instruction has no immediates
	default:
		r.fail("unsupported opcode 0xfd %d", sub)
	}
}
