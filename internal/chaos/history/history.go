// Package history records what the clients of a chaos run did and saw:
// one Op per client operation, with its invoke and return times and its
// outcome, safe to append from many goroutines and written as JSON lines.
// The checkers (internal/chaos/check) read it; nothing here interprets it.
package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"
)

// Kind is what an operation asked of the copyright register.
type Kind string

const (
	// Register asks to register Work with Owner.
	Register Kind = "register"
	// Transfer asks to move Work from its current owner (the caller) to Owner.
	Transfer Kind = "transfer"
	// Get reads Work's owner.
	Get Kind = "get"
)

// Outcome is what the client learnt.
type Outcome string

const (
	// OK: a write committed VALID (its block is known), or a read answered.
	OK Outcome = "ok"
	// Fail: the operation certainly had no effect (refused before
	// ordering, or committed INVALID). Refused says whether the contract
	// itself refused it, and Error says why.
	Fail Outcome = "fail"
	// Unknown: a write may or may not have taken effect (a timeout or a
	// lost connection after the envelope may have reached the orderers).
	// Its return time is not an upper bound on when it took effect.
	Unknown Outcome = "unknown"
)

// Op is one client operation. Times are nanoseconds since the run's start
// (monotonic), so that histories of one run compare exactly.
type Op struct {
	ID     int64  `json:"id"`
	Client int    `json:"client"`
	Caller string `json:"caller"` // the client's identity label, "alice@Org1"
	Kind   Kind   `json:"kind"`
	Work   string `json:"work"`
	// Owner is the owner a register asks for, or the new owner of a transfer.
	Owner string `json:"owner,omitempty"`

	Invoke int64 `json:"invoke_ns"`
	Return int64 `json:"return_ns"`

	Outcome Outcome `json:"outcome"`
	// Refused is true when the contract refused the operation (endorsement
	// failed with the contract's own error: already registered, not the
	// owner, ...). Such a refusal may come from a peer behind the others.
	Refused bool   `json:"refused,omitempty"`
	Error   string `json:"error,omitempty"`

	// Writes: the transaction, and where it committed when known.
	TxID  string `json:"tx_id,omitempty"`
	Block uint64 `json:"block,omitempty"`

	// Reads: the owner seen ("" when the work was not registered), the
	// answering peer's ledger height (the answer reflects blocks below it),
	// and the options the read was made with.
	Read         string `json:"read,omitempty"`
	Found        bool   `json:"found,omitempty"`
	ReadHeight   uint64 `json:"read_height,omitempty"`
	Via          string `json:"via,omitempty"`
	MinHeight    uint64 `json:"min_height,omitempty"`
	Linearizable bool   `json:"linearizable,omitempty"`
	// SessionHeight is the client's own height before the call (the
	// least height its own acknowledged writes and earlier reads imply).
	SessionHeight uint64 `json:"session_height,omitempty"`
}

// Recorder collects the operations of one run. Begin and End may be called
// from any goroutine.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	next  int64
	ops   []Op
}

// NewRecorder starts a history whose times count from start.
func NewRecorder(start time.Time) *Recorder { return &Recorder{start: start} }

// Start is the instant times count from.
func (r *Recorder) Start() time.Time { return r.start }

// Since returns t as nanoseconds since the run's start.
func (r *Recorder) Since(t time.Time) int64 { return t.Sub(r.start).Nanoseconds() }

// Begin stamps op's ID and invoke time; the caller fills the outcome and
// hands it to End.
func (r *Recorder) Begin(op Op) Op {
	r.mu.Lock()
	r.next++
	op.ID = r.next
	r.mu.Unlock()
	op.Invoke = r.Since(time.Now())
	return op
}

// End stamps op's return time and records it.
func (r *Recorder) End(op Op) {
	op.Return = r.Since(time.Now())
	if op.Return < op.Invoke {
		op.Return = op.Invoke
	}
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// Ops returns the recorded operations ordered by invoke time.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	out := append([]Op(nil), r.ops...)
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Invoke < out[j].Invoke })
	return out
}

// Write writes ops as JSON lines.
func Write(w io.Writer, ops []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			return fmt.Errorf("history: write op %d: %w", op.ID, err)
		}
	}
	return bw.Flush()
}

// WriteFile writes ops as JSON lines to path.
func WriteFile(path string, ops []Op) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := Write(f, ops); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// MaxLine bounds one JSON line when reading a history back.
const MaxLine = 1 << 20

// Read reads a history written by Write.
func Read(r io.Reader) ([]Op, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	var ops []Op
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var op Op
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return nil, fmt.Errorf("history: line %d: %w", line, err)
		}
		ops = append(ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return ops, nil
}

// ReadFile reads a history file.
func ReadFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	return Read(f)
}
