package vm

import (
	"context"
	"fmt"
	"log/slog"
	"math"

	"github.com/tetratelabs/wazero/api"

	"github.com/folio-ledger/folio/contract/abi"
)

// callState is the host side of one call, reached by host functions
// through the call's context. It is used by one goroutine: wasm runs host
// functions on the goroutine that called the guest.
type callState struct {
	sim      *simulator
	input    []byte
	contract string
	txID     string
	logger   *slog.Logger
	// pending is the result left for result_take (see package abi).
	pending    []byte
	hasPending bool
	// fatal is the error that aborted the call from inside a host function.
	fatal error
}

type callStateKey struct{}

// abortCall is the panic value a host function uses to stop the guest;
// wazero turns it into an error of the guest call.
type abortCall struct{ err error }

func (a abortCall) Error() string { return a.err.Error() }

func stateOf(ctx context.Context, fn string) *callState {
	cs, _ := ctx.Value(callStateKey{}).(*callState)
	if cs == nil {
		// The guest called the host outside folio_invoke (during its
		// initialisation or from folio_abi_version).
		panic(abortCall{fmt.Errorf("%w: %s called outside a contract call", ErrABIViolation, fn)})
	}
	return cs
}

func (cs *callState) abort(err error) {
	if cs.fatal == nil {
		cs.fatal = err
	}
	panic(abortCall{err})
}

// Every parameter is an i32: only the low 32 bits of a stack slot count.
func u32(v uint64) uint32 { return api.DecodeU32(v) }

// read copies [ptr, ptr+n) out of guest memory.
func (cs *callState) read(m api.Module, ptr, n uint64, fn string) []byte {
	if u32(n) == 0 {
		return nil
	}
	b, ok := m.Memory().Read(u32(ptr), u32(n))
	if !ok {
		cs.abort(fmt.Errorf("%w: %s: buffer [%d, +%d) outside memory of %d bytes", ErrABIViolation, fn, u32(ptr), u32(n), m.Memory().Size()))
	}
	return append([]byte(nil), b...)
}

// reply delivers a host function's result per the ABI: a refusal becomes
// -errno with its message pending; data is written to the guest buffer if
// it fits, else left pending; any other error aborts the call.
func (cs *callState) reply(m api.Module, data []byte, err error, buf, bufCap uint64, fn string) uint64 {
	cs.pending, cs.hasPending = nil, false
	if err != nil {
		r, ok := asRefusal(err)
		if !ok {
			cs.abort(err)
		}
		cs.pending, cs.hasPending = []byte(r.msg), true
		return api.EncodeI32(-int32(r.errno))
	}
	if len(data) > math.MaxInt32 {
		cs.abort(fmt.Errorf("%w: %s result of %d bytes", ErrABIViolation, fn, len(data)))
	}
	if uint64(len(data)) <= uint64(u32(bufCap)) {
		if len(data) > 0 && !m.Memory().Write(u32(buf), data) {
			cs.abort(fmt.Errorf("%w: %s: buffer [%d, +%d) outside memory", ErrABIViolation, fn, u32(buf), len(data)))
		}
		return api.EncodeI32(int32(len(data)))
	}
	cs.pending, cs.hasPending = data, true
	return api.EncodeI32(int32(len(data)))
}

// status delivers the result of a host function that returns no data.
func (cs *callState) status(err error) uint64 {
	cs.pending, cs.hasPending = nil, false
	if err == nil {
		return 0
	}
	r, ok := asRefusal(err)
	if !ok {
		cs.abort(err)
	}
	cs.pending, cs.hasPending = []byte(r.msg), true
	return api.EncodeI32(-int32(r.errno))
}

// instantiateHost registers the host functions of abi.HostFunctions in
// module "folio".
func (r *Runtime) instantiateHost(ctx context.Context) error {
	impls := map[string]api.GoModuleFunc{
		abi.FnCallInput: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnCallInput)
			s[0] = cs.reply(m, cs.input, nil, s[0], s[1], abi.FnCallInput)
		},
		abi.FnResultTake: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnResultTake)
			if !cs.hasPending {
				s[0] = api.EncodeI32(-int32(abi.ErrnoNoResult))
				return
			}
			data := cs.pending
			n := uint64(len(data))
			if n <= uint64(u32(s[1])) {
				if n > 0 && !m.Memory().Write(u32(s[0]), data) {
					cs.abort(fmt.Errorf("%w: %s: buffer [%d, +%d) outside memory", ErrABIViolation, abi.FnResultTake, u32(s[0]), n))
				}
				cs.pending, cs.hasPending = nil, false
			}
			s[0] = api.EncodeI32(int32(n))
		},
		abi.FnStateGet: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnStateGet)
			key := cs.read(m, s[0], s[1], abi.FnStateGet)
			g, err := cs.sim.get(string(key))
			s[0] = cs.reply(m, g.Marshal(), err, s[2], s[3], abi.FnStateGet)
		},
		abi.FnStatePut: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnStatePut)
			key := cs.read(m, s[0], s[1], abi.FnStatePut)
			if u32(s[3]) > uint32(cs.sim.maxValue) {
				s[0] = cs.status(refuse(abi.ErrnoTooLarge, "value of %q has %d bytes, limit %d", key, u32(s[3]), cs.sim.maxValue))
				return
			}
			val := cs.read(m, s[2], s[3], abi.FnStatePut)
			s[0] = cs.status(cs.sim.put(string(key), val))
		},
		abi.FnStateDel: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnStateDel)
			key := cs.read(m, s[0], s[1], abi.FnStateDel)
			s[0] = cs.status(cs.sim.del(string(key)))
		},
		abi.FnStateRange: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnStateRange)
			start := cs.read(m, s[0], s[1], abi.FnStateRange)
			end := cs.read(m, s[2], s[3], abi.FnStateRange)
			page, err := cs.sim.scan(string(start), string(end), int(u32(s[4])))
			s[0] = cs.reply(m, page.Marshal(), err, s[5], s[6], abi.FnStateRange)
		},
		abi.FnHistory: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnHistory)
			key := cs.read(m, s[0], s[1], abi.FnHistory)
			h, err := cs.sim.history(string(key))
			s[0] = cs.reply(m, h.Marshal(), err, s[2], s[3], abi.FnHistory)
		},
		abi.FnEventSet: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnEventSet)
			name := cs.read(m, s[0], s[1], abi.FnEventSet)
			if u32(s[3]) > uint32(cs.sim.maxValue) {
				s[0] = cs.status(refuse(abi.ErrnoTooLarge, "event payload has %d bytes, limit %d", u32(s[3]), cs.sim.maxValue))
				return
			}
			payload := cs.read(m, s[2], s[3], abi.FnEventSet)
			s[0] = cs.status(cs.sim.event(cs.contract, string(name), payload))
		},
		abi.FnResponseSet: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnResponseSet)
			if size := uint64(u32(s[2])) + uint64(u32(s[4])); size > uint64(cs.sim.maxResponse()) {
				s[0] = cs.status(refuse(abi.ErrnoTooLarge, "response has %d bytes, limit %d", size, cs.sim.maxResponse()))
				return
			}
			msg := cs.read(m, s[1], s[2], abi.FnResponseSet)
			payload := cs.read(m, s[3], s[4], abi.FnResponseSet)
			s[0] = cs.status(cs.sim.respond(api.DecodeI32(s[0]), string(msg), payload))
		},
		abi.FnCommitNotBefore: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnCommitNotBefore)
			s[0] = cs.status(cs.sim.commitNotBefore(abi.JoinNanos(u32(s[0]), u32(s[1]))))
		},
		abi.FnChannelOrgs: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnChannelOrgs)
			l, err := cs.sim.channelOrgs()
			s[0] = cs.reply(m, l.Marshal(), err, s[0], s[1], abi.FnChannelOrgs)
		},
		abi.FnLog: func(ctx context.Context, m api.Module, s []uint64) {
			cs := stateOf(ctx, abi.FnLog)
			n := uint64(u32(s[2]))
			if n > maxLogBytes {
				n = maxLogBytes
			}
			msg := cs.read(m, s[1], n, abi.FnLog)
			cs.logger.Log(ctx, slog.Level(api.DecodeI32(s[0])), string(msg), "contract", cs.contract, "tx", cs.txID)
		},
	}
	b := r.wz.NewHostModuleBuilder(abi.HostModule)
	r.hostFuncs = map[string]abi.HostFunction{}
	for _, hf := range abi.HostFunctions {
		impl, ok := impls[hf.Name]
		if !ok {
			return fmt.Errorf("host function %s not implemented", hf.Name)
		}
		b.NewFunctionBuilder().WithGoModuleFunction(impl, i32s(hf.Params), i32s(hf.Results)).WithName(hf.Name).Export(hf.Name)
		r.hostFuncs[hf.Name] = hf
	}
	if len(impls) != len(abi.HostFunctions) {
		return fmt.Errorf("%d host functions implemented, ABI lists %d", len(impls), len(abi.HostFunctions))
	}
	_, err := b.Instantiate(ctx)
	return err
}

// maxLogBytes bounds one contract log line.
const maxLogBytes = 4 << 10
