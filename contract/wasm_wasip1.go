//go:build wasip1

package contract

import (
	"fmt"
	"iter"
	"time"
	"unsafe"

	"github.com/folio-ledger/folio/contract/abi"
)

// This file is the guest half of the ABI described in package abi: the
// host imports, the exported entry points and the Context that talks to
// the host. Everything runs on the single goroutine of folio_invoke.

//go:wasmimport folio call_input
func hostCallInput(buf unsafe.Pointer, bufCap uint32) int32

//go:wasmimport folio result_take
func hostResultTake(buf unsafe.Pointer, bufCap uint32) int32

//go:wasmimport folio state_get
func hostStateGet(key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, bufCap uint32) int32

//go:wasmimport folio state_put
func hostStatePut(key unsafe.Pointer, keyLen uint32, val unsafe.Pointer, valLen uint32) int32

//go:wasmimport folio state_del
func hostStateDel(key unsafe.Pointer, keyLen uint32) int32

//go:wasmimport folio state_range
func hostStateRange(start unsafe.Pointer, startLen uint32, end unsafe.Pointer, endLen uint32, limit uint32, buf unsafe.Pointer, bufCap uint32) int32

//go:wasmimport folio history
func hostHistory(key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, bufCap uint32) int32

//go:wasmimport folio event_set
func hostEventSet(name unsafe.Pointer, nameLen uint32, payload unsafe.Pointer, payloadLen uint32) int32

//go:wasmimport folio response_set
func hostResponseSet(status int32, msg unsafe.Pointer, msgLen uint32, payload unsafe.Pointer, payloadLen uint32) int32

//go:wasmimport folio log
func hostLog(level int32, msg unsafe.Pointer, msgLen uint32)

//go:wasmimport folio commit_not_before
func hostCommitNotBefore(lo, hi uint32) int32

//go:wasmimport folio channel_orgs
func hostChannelOrgs(buf unsafe.Pointer, bufCap uint32) int32

//go:wasmexport folio_abi_version
func folioABIVersion() int32 { return abi.Version }

//go:wasmexport folio_invoke
func folioInvoke() int32 {
	var in abi.Call
	b, err := fetch(func(p unsafe.Pointer, n uint32) int32 { return hostCallInput(p, n) })
	if err == nil {
		err = in.Unmarshal(b)
	}
	if err != nil {
		setResponse(Internal("contract: read call input: %v", err).Response())
		return abi.InvokeOK
	}
	resp, panicked := Recover(served, &hostContext{in: &in})
	setResponse(resp)
	if panicked {
		return abi.InvokePanicked
	}
	return abi.InvokeOK
}

// setResponse hands resp to the host; a response the host refuses (too
// large, bad status) is replaced by a 500 that says why, small enough
// (abi.MinResponseLimit) for any host to accept.
func setResponse(resp Response) {
	if rc := hostResponseSet(resp.Status, strPtr(resp.Message), uint32(len(resp.Message)), bytesPtr(resp.Payload), uint32(len(resp.Payload))); rc < 0 {
		msg := truncateUTF8(fmt.Sprintf("contract response refused: %v", hostError(rc)), abi.MinResponseLimit/2)
		hostResponseSet(500, strPtr(msg), uint32(len(msg)), nil, 0)
	}
}

// scratch is the buffer host results are written into. Results are decoded
// (copied) out of it before the next host call.
var scratch = make([]byte, scratchSize)

const (
	scratchSize = 16 << 10
	// scratchKeep is the largest buffer kept between host calls.
	scratchKeep = 1 << 20
)

// fetch runs a host call that produces a result and returns the result
// bytes, valid until the next host call.
func fetch(call func(buf unsafe.Pointer, bufCap uint32) int32) ([]byte, error) {
	if cap(scratch) > scratchKeep {
		scratch = make([]byte, scratchSize)
	}
	n := call(unsafe.Pointer(&scratch[0]), uint32(len(scratch)))
	if n < 0 {
		return nil, hostError(n)
	}
	if int(n) > len(scratch) {
		scratch = make([]byte, n)
		if m := hostResultTake(unsafe.Pointer(&scratch[0]), uint32(len(scratch))); m != n {
			return nil, fmt.Errorf("%w: result_take returned %d, want %d", ErrHost, m, n)
		}
	}
	return scratch[:n], nil
}

// hostError turns a negative return into an error carrying the host's
// message (the pending result) and wrapping the matching sentinel.
func hostError(rc int32) error {
	errno := abi.Errno(-rc)
	msg := errno.String()
	buf := make([]byte, 512)
	if n := hostResultTake(unsafe.Pointer(&buf[0]), uint32(len(buf))); n > 0 {
		if int(n) > len(buf) {
			buf = make([]byte, n)
			n = hostResultTake(unsafe.Pointer(&buf[0]), uint32(len(buf)))
		}
		if n > 0 && int(n) <= len(buf) {
			msg = string(buf[:n])
		}
	}
	var sentinel error
	switch errno {
	case abi.ErrnoInvalidKey:
		sentinel = ErrInvalidKey
	case abi.ErrnoReadOnly:
		sentinel = ErrReadOnly
	case abi.ErrnoTooLarge:
		sentinel = ErrTooLarge
	case abi.ErrnoLimit:
		sentinel = ErrLimit
	case abi.ErrnoInvalidArgument:
		sentinel = ErrInvalidArgument
	case abi.ErrnoUnavailable:
		sentinel = ErrUnavailable
	default:
		sentinel = ErrHost
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}

func strPtr(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// hostContext is the Context of a call running in the VM.
type hostContext struct {
	in *abi.Call
}

var _ Context = (*hostContext)(nil)

func (c *hostContext) TxID() string         { return c.in.TxID }
func (c *hostContext) Timestamp() time.Time { return c.in.Timestamp }
func (c *hostContext) ChannelID() string    { return c.in.ChannelID }
func (c *hostContext) Namespace() string    { return c.in.Namespace }
func (c *hostContext) Function() string     { return c.in.Function }
func (c *hostContext) Args() [][]byte       { return c.in.Args }
func (c *hostContext) ReadOnly() bool       { return c.in.ReadOnly }
func (c *hostContext) Creator() Identity    { return c.in.Creator }

func (c *hostContext) GetState(key string) ([]byte, error) {
	v, _, err := c.GetStateVersion(key)
	return v, err
}

func (c *hostContext) GetStateVersion(key string) ([]byte, *Version, error) {
	if err := CheckKey(key); err != nil {
		return nil, nil, err
	}
	b, err := fetch(func(p unsafe.Pointer, n uint32) int32 {
		return hostStateGet(strPtr(key), uint32(len(key)), p, n)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("get state %q: %w", key, err)
	}
	var g abi.GetResult
	if err := g.Unmarshal(b); err != nil {
		return nil, nil, fmt.Errorf("%w: get state %q: %v", ErrHost, key, err)
	}
	if !g.Found {
		return nil, nil, nil
	}
	if g.Value == nil {
		g.Value = []byte{}
	}
	if !g.HasVersion {
		return g.Value, nil, nil
	}
	return g.Value, &g.Version, nil
}

func (c *hostContext) PutState(key string, value []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if rc := hostStatePut(strPtr(key), uint32(len(key)), bytesPtr(value), uint32(len(value))); rc < 0 {
		return fmt.Errorf("put state %q: %w", key, hostError(rc))
	}
	return nil
}

func (c *hostContext) DelState(key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if rc := hostStateDel(strPtr(key), uint32(len(key))); rc < 0 {
		return fmt.Errorf("delete state %q: %w", key, hostError(rc))
	}
	return nil
}

func (c *hostContext) GetStateRange(start, end string) iter.Seq2[KV, error] {
	s, e, err := SimpleKeyRange(start, end)
	if err != nil {
		return errSeq(err)
	}
	return c.scan(s, e)
}

func (c *hostContext) GetStateByPartialCompositeKey(objectType string, attrs ...string) iter.Seq2[KV, error] {
	s, e, err := PartialCompositeKeyRange(objectType, attrs...)
	if err != nil {
		return errSeq(err)
	}
	return c.scan(s, e)
}

// rangePage is how many entries one state_range call asks for. The host
// merges consecutive pages into one range read, so the page size does not
// show in the read set.
const rangePage = 256

func (c *hostContext) scan(start, end string) iter.Seq2[KV, error] {
	return func(yield func(KV, error) bool) {
		from := start
		for {
			b, err := fetch(func(p unsafe.Pointer, n uint32) int32 {
				return hostStateRange(strPtr(from), uint32(len(from)), strPtr(end), uint32(len(end)), rangePage, p, n)
			})
			if err != nil {
				yield(KV{}, fmt.Errorf("range [%q, %q): %w", start, end, err))
				return
			}
			var page abi.RangePage
			if err := page.Unmarshal(b); err != nil {
				yield(KV{}, fmt.Errorf("%w: range [%q, %q): %v", ErrHost, start, end, err))
				return
			}
			for _, kv := range page.Entries {
				if !yield(kv, nil) {
					return
				}
			}
			if !page.More || len(page.Entries) == 0 {
				return
			}
			from = page.Entries[len(page.Entries)-1].Key + "\x00"
		}
	}
}

func errSeq(err error) iter.Seq2[KV, error] {
	return func(yield func(KV, error) bool) { yield(KV{}, err) }
}

func (c *hostContext) GetHistoryForKey(key string) ([]HistoryEntry, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	b, err := fetch(func(p unsafe.Pointer, n uint32) int32 {
		return hostHistory(strPtr(key), uint32(len(key)), p, n)
	})
	if err != nil {
		return nil, fmt.Errorf("history of %q: %w", key, err)
	}
	var h abi.History
	if err := h.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: history of %q: %v", ErrHost, key, err)
	}
	return h.Entries, nil
}

func (c *hostContext) SetEvent(name string, payload []byte) error {
	if rc := hostEventSet(strPtr(name), uint32(len(name)), bytesPtr(payload), uint32(len(payload))); rc < 0 {
		return fmt.Errorf("set event %q: %w", name, hostError(rc))
	}
	return nil
}

func (c *hostContext) Logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	hostLog(abi.LogDebug, strPtr(msg), uint32(len(msg)))
}

func (c *hostContext) CommitNotBefore(t time.Time) error {
	n, ok := abi.NotBeforeNanos(t)
	if !ok {
		return fmt.Errorf("commit not before %s: %w: the time must be after the Unix epoch and before 2262", t.UTC().Format(time.RFC3339Nano), ErrInvalidArgument)
	}
	if rc := hostCommitNotBefore(abi.SplitNanos(n)); rc < 0 {
		return fmt.Errorf("commit not before %s: %w", t.UTC().Format(time.RFC3339Nano), hostError(rc))
	}
	return nil
}

func (c *hostContext) ChannelOrgs() ([]string, error) {
	b, err := fetch(func(p unsafe.Pointer, n uint32) int32 { return hostChannelOrgs(p, n) })
	if err != nil {
		return nil, fmt.Errorf("channel organisations: %w", err)
	}
	var l abi.OrgList
	if err := l.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: channel organisations: %v", ErrHost, err)
	}
	return l.Orgs, nil
}
