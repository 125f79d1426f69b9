package abi

import (
	"fmt"
	"math"
	"time"
)

// Version is the ABI version this package describes. A guest reports the
// version it was built against from folio_abi_version; the host runs
// modules of any version in [MinVersion, Version] and refuses others. It
// only moves forward, and a new version only adds host functions (see
// HostFunction.Since), so a module built for an older version keeps
// running on a newer host unchanged.
//
// Version 2 added commit_not_before; version 3 added channel_orgs.
const Version = 3

// MinVersion is the oldest ABI version a host of this package still runs.
const MinVersion = 1

// Module names and exports.
const (
	// HostModule is the import module of Folio's host functions.
	HostModule = "folio"
	// WASIModule is the WASI preview 1 import module (clock, random, stdio);
	// the host configures it deterministically and without a filesystem.
	WASIModule = "wasi_snapshot_preview1"

	ExportMemory     = "memory"
	ExportInitialize = "_initialize"
	ExportABIVersion = "folio_abi_version"
	ExportInvoke     = "folio_invoke"
)

// Return values of folio_invoke.
const (
	// InvokeOK: the call ran to completion and set its response.
	InvokeOK = 0
	// InvokePanicked: the contract panicked, the SDK recovered and set a 500
	// response; the host must not reuse the instance.
	InvokePanicked = 1
)

// Names of the host functions in module HostModule.
const (
	FnCallInput   = "call_input"   // (buf, cap) -> n
	FnResultTake  = "result_take"  // (buf, cap) -> n
	FnStateGet    = "state_get"    // (key, keyLen, buf, cap) -> n | -errno
	FnStatePut    = "state_put"    // (key, keyLen, val, valLen) -> 0 | -errno
	FnStateDel    = "state_del"    // (key, keyLen) -> 0 | -errno
	FnStateRange  = "state_range"  // (start, startLen, end, endLen, limit, buf, cap) -> n | -errno
	FnHistory     = "history"      // (key, keyLen, buf, cap) -> n | -errno
	FnEventSet    = "event_set"    // (name, nameLen, payload, payloadLen) -> 0 | -errno
	FnResponseSet = "response_set" // (status, msg, msgLen, payload, payloadLen) -> 0 | -errno
	FnLog         = "log"          // (level, msg, msgLen) -> ()
	// FnCommitNotBefore asserts that the transaction may commit only in a
	// block whose timestamp is at or after a time, given as signed Unix
	// nanoseconds split into two i32 halves. It returns 0, or
	// -ErrnoInvalidArgument for a time at or before the Unix epoch.
	FnCommitNotBefore = "commit_not_before" // (nanosLow32, nanosHigh32) -> 0 | -errno
	// FnChannelOrgs returns the names of the channel's organisations
	// (OrgList), from the channel's genesis configuration: config updates
	// cannot change the set of organisations (internal/channel,
	// checkChangeable), so the answer is a constant of the chain, the
	// same on every peer at every height, and needs no read-set entry.
	// -ErrnoUnavailable if the host was not given the configuration.
	FnChannelOrgs = "channel_orgs" // (buf, cap) -> n | -errno
)

// HostFunction describes one host import: its name, how many i32
// parameters and results it has (every parameter and result is an i32),
// and the ABI version that introduced it.
type HostFunction struct {
	Name    string
	Params  int
	Results int
	// Since is the first ABI version with this function; a module that
	// reports an older version may not import it.
	Since int32
}

// HostFunctions lists every host function of ABI Version, in a fixed order.
var HostFunctions = []HostFunction{
	{FnCallInput, 2, 1, 1},
	{FnResultTake, 2, 1, 1},
	{FnStateGet, 4, 1, 1},
	{FnStatePut, 4, 1, 1},
	{FnStateDel, 2, 1, 1},
	{FnStateRange, 7, 1, 1},
	{FnHistory, 4, 1, 1},
	{FnEventSet, 4, 1, 1},
	{FnResponseSet, 5, 1, 1},
	{FnLog, 3, 0, 1},
	{FnCommitNotBefore, 2, 1, 2},
	{FnChannelOrgs, 2, 1, 3},
}

// SplitNanos splits signed Unix nanoseconds into the two i32 halves
// commit_not_before takes (low 32 bits first); JoinNanos is its inverse.
func SplitNanos(n int64) (lo, hi uint32) { return uint32(uint64(n)), uint32(uint64(n) >> 32) }

// JoinNanos reassembles what SplitNanos split.
func JoinNanos(lo, hi uint32) int64 { return int64(uint64(hi)<<32 | uint64(lo)) }

// Limits both sides agree on. They shape results, so they are part of the
// ABI rather than per-node configuration: every endorser must apply the
// same ones to produce byte-identical results.
const (
	// MaxKeyBytes is the largest state key (internal/types and the
	// ledger's state use this bound).
	MaxKeyBytes = 1024
	// MaxRangeLimit is the largest page a state_range call may ask for.
	MaxRangeLimit = 10000
	// MaxEvents is how many events one call may set.
	MaxEvents = 64
	// MaxEventNameBytes bounds an event name.
	MaxEventNameBytes = 256
	// MinResponseLimit is a response size (message plus payload) every host
	// accepts whatever its configured limits, so that the SDK can always
	// report an error.
	MinResponseLimit = 1 << 10
	// MinStatus and MaxStatus bound a response status (HTTP-like).
	MinStatus = 200
	MaxStatus = 599
)

// Log levels of the log host function (slog levels).
const (
	LogDebug = -4
	LogInfo  = 0
	LogWarn  = 4
	LogError = 8
)

// Errno is the status a host function returns (negated) when it refuses a
// request. The message that explains it is left as the pending result.
type Errno int32

const (
	// ErrnoInvalidKey: empty, not valid UTF-8, or longer than MaxKeyBytes.
	ErrnoInvalidKey Errno = 1
	// ErrnoReadOnly: a write or event in a read-only (evaluate) call.
	ErrnoReadOnly Errno = 2
	// ErrnoTooLarge: a value, event or response over the host's limits.
	ErrnoTooLarge Errno = 3
	// ErrnoInvalidArgument: any other malformed request (range limit out of
	// bounds, bad event name, status out of range, response set twice, a
	// commit_not_before time at or before the Unix epoch).
	ErrnoInvalidArgument Errno = 4
	// ErrnoNoResult: result_take without a pending result.
	ErrnoNoResult Errno = 5
	// ErrnoLimit: a per-call count limit (MaxEvents) was reached.
	ErrnoLimit Errno = 6
	// ErrnoUnavailable: the host cannot answer (channel_orgs on a host
	// started without the channel's configuration).
	ErrnoUnavailable Errno = 7
)

func (e Errno) String() string {
	switch e {
	case ErrnoInvalidKey:
		return "invalid key"
	case ErrnoReadOnly:
		return "read-only call"
	case ErrnoTooLarge:
		return "too large"
	case ErrnoInvalidArgument:
		return "invalid argument"
	case ErrnoNoResult:
		return "no pending result"
	case ErrnoLimit:
		return "limit reached"
	case ErrnoUnavailable:
		return "unavailable"
	}
	return fmt.Sprintf("errno %d", int32(e))
}

// NotBeforeNanos is how commit_not_before carries t: its Unix
// nanoseconds. ok is false for a time the assertion cannot carry: at or
// before the Unix epoch (0 means "no assertion" in the read/write set), or
// after the largest int64 nanosecond time (in the year 2262).
func NotBeforeNanos(t time.Time) (n int64, ok bool) {
	if !t.After(time.Unix(0, 0)) || t.After(time.Unix(0, math.MaxInt64)) {
		return 0, false
	}
	return t.UnixNano(), true
}
