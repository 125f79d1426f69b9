package contract

import (
	"errors"
	"iter"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
)

// Context is what a handler sees of its call: the call's identity and
// input, and the state of the contract's namespace. Implementations are
// used by one call at a time and are not safe for concurrent use; slices
// they return belong to the caller.
type Context interface {
	// TxID is the transaction ID (lowercase hex).
	TxID() string
	// Timestamp is the transaction timestamp set by the client and checked
	// by the endorser; use it instead of a clock.
	Timestamp() time.Time
	// ChannelID is the channel the transaction belongs to.
	ChannelID() string
	// Namespace is the contract's state namespace (its name).
	Namespace() string
	// Function is the function name the caller invoked.
	Function() string
	// Args are the call's arguments (after the function name).
	Args() [][]byte
	// Creator is the identity that signed the proposal.
	Creator() Identity
	// ReadOnly reports an evaluate call: writes and events are refused.
	ReadOnly() bool

	// GetState returns the value of key, or nil if it does not exist. It
	// sees this call's own writes.
	GetState(key string) ([]byte, error)
	// GetStateVersion is GetState that also returns the committed version
	// read; the version is nil if the key is absent or the value is this
	// call's own pending write.
	GetStateVersion(key string) ([]byte, *Version, error)
	// PutState writes value under key. A later write of the same key in the
	// same call replaces it.
	PutState(key string, value []byte) error
	// DelState deletes key.
	DelState(key string) error
	// GetStateRange iterates committed keys in [start, end) in key order.
	// start "" means from the first simple key; end "" means no upper
	// bound. Composite keys (starting with U+0000) are outside simple
	// ranges: use GetStateByPartialCompositeKey for them. The call's own
	// writes are not visible. An error is yielded once, as the last item.
	GetStateRange(start, end string) iter.Seq2[KV, error]
	// GetStateByPartialCompositeKey iterates committed composite keys of
	// objectType whose first attributes equal attrs, in key order.
	GetStateByPartialCompositeKey(objectType string, attrs ...string) iter.Seq2[KV, error]
	// GetHistoryForKey returns every committed change of key, oldest first.
	GetHistoryForKey(key string) ([]HistoryEntry, error)
	// SetEvent adds an event, published if the transaction commits. A call
	// may set up to abi.MaxEvents events; they keep their order.
	SetEvent(name string, payload []byte) error
	// Logf writes a debug line to the host's log. It has no effect on the
	// call's result.
	Logf(format string, args ...any)
	// CommitNotBefore asserts that the transaction may commit only in a
	// block whose timestamp is at or after t. Timestamp is the client's
	// word (endorsers only bound it to a window around their clocks), so
	// a rule such as "not before T" checked against it alone can be met
	// minutes early; CommitNotBefore makes validation check the same rule
	// against the orderer-signed block timestamp, and marks the
	// transaction TOO_EARLY otherwise (from channel capability level 3;
	// docs/contracts.md). The assertion is recorded in the read/write
	// set, so endorsers sign it. Repeated calls keep the latest time. In a
	// read-only call it has no effect. t must be after the Unix epoch and
	// before the year 2262, else ErrInvalidArgument.
	CommitNotBefore(t time.Time) error
	// ChannelOrgs returns the names of the channel's member
	// organisations ("Org1", as Identity.Org names them), sorted: the
	// consortium whose members a contract may name as owners. The set is
	// the channel configuration's in force at the height the call reads
	// (config updates add and remove organisations), so every endorser at
	// one height answers the same; the call records no read, so a
	// membership change between endorsement and commit does not
	// invalidate it. ErrUnavailable if the host was started without the
	// channel's configuration.
	ChannelOrgs() ([]string, error)
}

// The values a Context hands out are the ABI's (package contract/abi), so
// that the VM, the SDK and contracttest share one definition of each.
type (
	// Identity is the caller of a contract, as validated by the host's
	// MSP: MSPID, Org ("Org1"), Name ("user1"), Role ("client", "admin",
	// "peer" or "orderer") and CertPEM, with Label and IsAdminOf.
	Identity = abi.Identity
	// Version is the ledger height at which a key was last written: Block,
	// and Tx, the transaction's index in the block.
	Version = abi.KeyVersion
	// KV is one key returned by a range query, with its Value and
	// committed Version.
	KV = abi.KV
	// HistoryEntry is one committed change of a key: TxID, Version,
	// Timestamp (the transaction's), IsDelete, and Value (nil for a
	// delete).
	HistoryEntry = abi.HistoryEntry
)

// Errors the state functions return (wrapped); Fail maps them to statuses.
var (
	// ErrInvalidKey: empty, invalid UTF-8, too long, or misused composite key.
	ErrInvalidKey = errors.New("invalid key")
	// ErrReadOnly: a write or event in a read-only call.
	ErrReadOnly = errors.New("read-only call")
	// ErrTooLarge: a value, event or response over the host's limits.
	ErrTooLarge = errors.New("too large")
	// ErrLimit: a per-call limit such as the number of events was reached.
	ErrLimit = errors.New("limit reached")
	// ErrInvalidArgument: any other request the host refused.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable: the host cannot answer the request (ChannelOrgs on
	// a host without the channel's configuration).
	ErrUnavailable = errors.New("unavailable")
	// ErrHost: the host broke the ABI (should never happen).
	ErrHost = errors.New("host error")
)
