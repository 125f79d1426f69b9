package vm_test

import "github.com/folio-ledger/folio/contract/abi"

// A tiny WebAssembly assembler for hand-made test modules (no wat2wasm
// here): just enough sections for modules with imports, functions, one
// memory and exports.

const (
	tI32 = 0x7f

	opUnreachable = 0x00
	opLoop        = 0x03
	opBr          = 0x0c
	opEnd         = 0x0b
	opCall        = 0x10
	opDrop        = 0x1a
	opI32Const    = 0x41
	opI32Add      = 0x6a
	blockEmpty    = 0x40
)

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		b = append(b, c)
		if done {
			return b
		}
	}
}

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func vec(items ...[]byte) []byte {
	b := uleb(uint64(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(body)))...), body...)
}

func i32const(v int32) []byte { return append([]byte{opI32Const}, sleb(int64(v))...) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

type functype struct{ params, results []byte }

func (f functype) enc() []byte {
	return cat([]byte{0x60}, vec(bytesOf(f.params)...), vec(bytesOf(f.results)...))
}

func bytesOf(ts []byte) [][]byte {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		out[i] = []byte{t}
	}
	return out
}

type wasmImport struct {
	module, field string
	typ           functype
}

type wasmFunc struct {
	export string // "" = not exported
	typ    functype
	body   []byte // instructions without the final end
}

type wasmModule struct {
	imports  []wasmImport
	funcs    []wasmFunc
	memMin   uint32
	noMemory bool
}

// assemble encodes m. Types are not deduplicated: one per function.
func (m wasmModule) assemble() []byte {
	var types, imports, funcs, exports, code [][]byte
	for _, im := range m.imports {
		imports = append(imports, cat(name(im.module), name(im.field), []byte{0x00}, uleb(uint64(len(types)))))
		types = append(types, im.typ.enc())
	}
	for i, f := range m.funcs {
		funcs = append(funcs, uleb(uint64(len(types))))
		types = append(types, f.typ.enc())
		body := cat([]byte{0x00}, f.body, []byte{opEnd}) // no locals
		code = append(code, cat(uleb(uint64(len(body))), body))
		if f.export != "" {
			exports = append(exports, cat(name(f.export), []byte{0x00}, uleb(uint64(len(m.imports)+i))))
		}
	}
	out := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	out = append(out, section(1, vec(types...))...)
	if len(imports) > 0 {
		out = append(out, section(2, vec(imports...))...)
	}
	out = append(out, section(3, vec(funcs...))...)
	if !m.noMemory {
		out = append(out, section(5, vec(cat([]byte{0x00}, uleb(uint64(m.memMin)))))...)
		exports = append(exports, cat(name(abi.ExportMemory), []byte{0x02}, uleb(0)))
	}
	out = append(out, section(7, vec(exports...))...)
	out = append(out, section(10, vec(code...))...)
	return out
}

var (
	sigVoid = functype{}
	sigI32  = functype{results: []byte{tI32}}
)

// reactor is a minimal module with the required exports; invoke is the
// body of folio_invoke (it must leave an i32).
func reactor(abiVersion int32, invoke []byte, imports ...wasmImport) wasmModule {
	return wasmModule{
		imports: imports,
		memMin:  1,
		funcs: []wasmFunc{
			{export: abi.ExportInitialize, typ: sigVoid},
			{export: abi.ExportABIVersion, typ: sigI32, body: i32const(abiVersion)},
			{export: abi.ExportInvoke, typ: sigI32, body: invoke},
		},
	}
}

func i32sig(params, results int) functype {
	f := functype{}
	for range params {
		f.params = append(f.params, tI32)
	}
	for range results {
		f.results = append(f.results, tI32)
	}
	return f
}

// respond is an invoke body that sets a 200 response through the
// response_set import at index fn and returns rc.
func respond(fn uint32, rc int32) []byte {
	return cat(i32const(200), i32const(0), i32const(0), i32const(0), i32const(0),
		[]byte{opCall}, uleb(uint64(fn)), []byte{opDrop}, i32const(rc))
}

var responseSetImport = wasmImport{abi.HostModule, abi.FnResponseSet, i32sig(5, 1)}
