package copyright

import (
	"fmt"
	"time"

	"github.com/folio-ledger/folio/contract"
)

// Function names.
const (
	FnRegister = "register"
	FnTransfer = "transfer"
	FnGet      = "get"
	FnHistory  = "history"
	FnList     = "list"
)

// Events set by the contract.
const (
	EventRegistered  = "work.registered"
	EventTransferred = "work.transferred"
)

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Composite key object types.
const (
	objWork     = "work"
	objOwnerIdx = "owner~id"
	objAuthIdx  = "author~id"
)

// indexValue is the value of index keys (an empty value would read as
// "no value" to some stores).
var indexValue = []byte{0}

// New returns the router of the copyright contract.
func New() *contract.Router {
	r := contract.NewRouter()
	r.Handle(FnRegister, register)
	r.Handle(FnTransfer, transfer)
	r.Handle(FnGet, get)
	r.Handle(FnHistory, history)
	r.Handle(FnList, list)
	return r
}

// RegisterArgs is the argument of register.
type RegisterArgs struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Author string `json:"author"`
	// Owner defaults to the caller, "name@Org".
	Owner string `json:"owner,omitempty"`
	// Type defaults to DefaultType.
	Type        string `json:"type,omitempty"`
	ContentHash string `json:"content_hash"`
}

// TransferArgs is the argument of transfer.
type TransferArgs struct {
	ID string `json:"id"`
	To string `json:"to"`
}

// IDArgs is the argument of get and history.
type IDArgs struct {
	ID string `json:"id"`
}

// ListArgs is the argument of list: works of Owner and/or Author (all
// works if neither), in ID order, at most Limit (default 100, max 1000).
type ListArgs struct {
	Owner  string `json:"owner,omitempty"`
	Author string `json:"author,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// WorkChange is one change of a work, as `folio work history` shows it:
// built from a contract.HistoryEntry of the work's record key and the
// record it wrote.
type WorkChange struct {
	TxID      string `json:"tx_id"`
	Block     uint64 `json:"block"`
	Tx        uint64 `json:"tx"`
	Timestamp string `json:"timestamp"`
	Creator   string `json:"creator"`
	Action    string `json:"action"`
	Owner     string `json:"owner"`
}

// HistoryResult is what history returns.
type HistoryResult struct {
	ID      string       `json:"id"`
	Entries []WorkChange `json:"entries"`
}

// ListResult is what list returns; More is true when Limit cut it short.
type ListResult struct {
	Works []Work `json:"works"`
	More  bool   `json:"more,omitempty"`
}

// TransferEvent is the payload of EventTransferred.
type TransferEvent struct {
	ID   string `json:"id"`
	From string `json:"from"`
	To   string `json:"to"`
	By   string `json:"by"`
}

// WorkKey is the state key of a work's record (clients use it to ask for
// evidence of a record).
func WorkKey(id string) (string, error) { return contract.CreateCompositeKey(objWork, id) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// caller returns the caller's label, refusing identities without one.
func caller(ctx contract.Context) (contract.Identity, error) {
	id := ctx.Creator()
	if id.Name == "" || id.Org == "" {
		return id, contract.Forbidden("the caller's identity has no name or organisation")
	}
	return id, nil
}

func register(ctx contract.Context) contract.Response {
	var a RegisterArgs
	if err := bindArgs(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	who, err := caller(ctx)
	if err != nil {
		return contract.Fail(err)
	}
	if a.Owner == "" {
		a.Owner = who.Label()
	}
	if a.Type == "" {
		a.Type = DefaultType
	}
	hash, err := normHash("content_hash", a.ContentHash)
	if err == nil {
		err = firstErr(
			checkID("id", a.ID),
			checkText("title", a.Title, MaxTitleBytes),
			checkText("author", a.Author, MaxAuthorBytes),
			checkOwner("owner", a.Owner),
			checkType("type", a.Type),
		)
	}
	if err != nil {
		return contract.Fail(err)
	}
	key, err := WorkKey(a.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("id", "id: %v", err))
	}
	old, err := ctx.GetState(key)
	if err != nil {
		return contract.Fail(err)
	}
	if old != nil {
		var prev Record
		if unmarshalRecord(old, &prev) == nil {
			return contract.Fail(contract.Conflict("work %q is already registered (owner %s, registered %s)", a.ID, prev.Owner, prev.RegisteredAt))
		}
		return contract.Fail(contract.Conflict("work %q is already registered", a.ID))
	}
	now := stamp(ctx.Timestamp())
	rec := Record{
		ID: a.ID, Title: a.Title, Author: a.Author, Owner: a.Owner, Type: a.Type, ContentHash: hash,
		RegisteredAt: now, RegisteredBy: who.Label(),
		Action: ActionRegister, UpdatedBy: who.Label(), UpdatedAt: now,
	}
	value := rec.marshal()
	ownerKey, err := contract.CreateCompositeKey(objOwnerIdx, rec.Owner, rec.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("owner", "owner: %v", err))
	}
	authorKey, err := contract.CreateCompositeKey(objAuthIdx, rec.Author, rec.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("author", "author: %v", err))
	}
	if err := firstErr(
		ctx.PutState(key, value),
		ctx.PutState(ownerKey, indexValue),
		ctx.PutState(authorKey, indexValue),
		ctx.SetEvent(EventRegistered, value),
	); err != nil {
		return contract.Fail(err)
	}
	return contract.OK(value)
}

func transfer(ctx contract.Context) contract.Response {
	var a TransferArgs
	if err := bindArgs(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	who, err := caller(ctx)
	if err != nil {
		return contract.Fail(err)
	}
	if err := firstErr(checkID("id", a.ID), checkOwner("to", a.To)); err != nil {
		return contract.Fail(err)
	}
	key, err := WorkKey(a.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("id", "id: %v", err))
	}
	rec, _, err := load(ctx, key, a.ID)
	if err != nil {
		return contract.Fail(err)
	}
	org := orgOf(rec.Owner)
	if who.Label() != rec.Owner && !who.IsAdminOf(org) {
		return contract.Fail(contract.Forbidden("%s may not transfer work %q: only its owner %s or an admin of %s may",
			who.Label(), a.ID, rec.Owner, org))
	}
	if a.To == rec.Owner {
		return contract.Fail(contract.Conflict("work %q is already owned by %s", a.ID, a.To))
	}
	from := rec.Owner
	oldIdx, err := contract.CreateCompositeKey(objOwnerIdx, from, rec.ID)
	if err != nil {
		return contract.Fail(err)
	}
	newIdx, err := contract.CreateCompositeKey(objOwnerIdx, a.To, rec.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("to", "to: %v", err))
	}
	rec.Owner = a.To
	rec.Action, rec.UpdatedBy, rec.UpdatedAt = ActionTransfer, who.Label(), stamp(ctx.Timestamp())
	value := rec.marshal()
	ev := TransferEvent{ID: rec.ID, From: from, To: a.To, By: who.Label()}.AppendJSON(nil)
	if err := firstErr(
		ctx.PutState(key, value),
		ctx.DelState(oldIdx),
		ctx.PutState(newIdx, indexValue),
		ctx.SetEvent(EventTransferred, ev),
	); err != nil {
		return contract.Fail(err)
	}
	return contract.OK(value)
}

// load reads and decodes the record of id; a missing record is a 404.
func load(ctx contract.Context, key, id string) (Record, *contract.Version, error) {
	b, ver, err := ctx.GetStateVersion(key)
	if err != nil {
		return Record{}, nil, err
	}
	if b == nil {
		return Record{}, nil, contract.NotFound("work %q is not registered", id)
	}
	var rec Record
	if err := unmarshalRecord(b, &rec); err != nil {
		return Record{}, nil, contract.Internal("stored record of work %q is corrupt: %v", id, err)
	}
	return rec, ver, nil
}

func get(ctx contract.Context) contract.Response {
	var a IDArgs
	if err := bindArgs(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	if err := checkID("id", a.ID); err != nil {
		return contract.Fail(err)
	}
	key, err := WorkKey(a.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("id", "id: %v", err))
	}
	rec, ver, err := load(ctx, key, a.ID)
	if err != nil {
		return contract.Fail(err)
	}
	w := work(rec, ver)
	return contract.OK(w.AppendJSON(make([]byte, 0, recordSize(&rec)+64)))
}

func work(rec Record, ver *contract.Version) Work {
	w := Work{Record: rec}
	if ver != nil {
		w.Version = &RecordVersion{Block: ver.Block, Tx: ver.Tx}
	}
	return w
}

func history(ctx contract.Context) contract.Response {
	var a IDArgs
	if err := bindArgs(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	if err := checkID("id", a.ID); err != nil {
		return contract.Fail(err)
	}
	key, err := WorkKey(a.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("id", "id: %v", err))
	}
	changes, err := ctx.GetHistoryForKey(key)
	if err != nil {
		return contract.Fail(err)
	}
	if len(changes) == 0 {
		return contract.Fail(contract.NotFound("work %q is not registered", a.ID))
	}
	out := HistoryResult{ID: a.ID, Entries: make([]WorkChange, 0, len(changes))}
	for _, c := range changes {
		e := WorkChange{TxID: c.TxID, Block: c.Version.Block, Tx: c.Version.Tx}
		if !c.Timestamp.IsZero() {
			e.Timestamp = stamp(c.Timestamp)
		}
		if c.IsDelete {
			e.Action = ActionDelete
		} else {
			var rec Record
			if err := unmarshalRecord(c.Value, &rec); err != nil {
				return contract.Fail(contract.Internal("history of work %q: value of tx %s is corrupt: %v", a.ID, c.TxID, err))
			}
			e.Creator, e.Action, e.Owner = rec.UpdatedBy, rec.Action, rec.Owner
			if e.Timestamp == "" {
				e.Timestamp = rec.UpdatedAt
			}
		}
		out.Entries = append(out.Entries, e)
	}
	return contract.OK(out.AppendJSON(nil))
}

func list(ctx contract.Context) contract.Response {
	var a ListArgs
	if len(ctx.Args()) != 0 { // list takes an optional argument
		if err := bindArgs(ctx, &a); err != nil {
			return contract.Fail(err)
		}
	}
	switch {
	case a.Limit == 0:
		a.Limit = DefaultListLimit
	case a.Limit < 0 || a.Limit > MaxListLimit:
		return contract.Fail(contract.BadRequest("limit", "limit %d is not within 1..%d", a.Limit, MaxListLimit))
	}
	if a.Owner != "" {
		if err := checkOwner("owner", a.Owner); err != nil {
			return contract.Fail(err)
		}
	}
	if a.Author != "" {
		if err := checkText("author", a.Author, MaxAuthorBytes); err != nil {
			return contract.Fail(err)
		}
	}
	var (
		objectType string
		attrs      []string
		indexed    = true
	)
	switch {
	case a.Owner != "":
		objectType, attrs = objOwnerIdx, []string{a.Owner}
	case a.Author != "":
		objectType, attrs = objAuthIdx, []string{a.Author}
	default:
		objectType, indexed = objWork, false
	}
	out := ListResult{Works: []Work{}}
	for kv, err := range ctx.GetStateByPartialCompositeKey(objectType, attrs...) {
		if err != nil {
			return contract.Fail(err)
		}
		_, parts, err := contract.SplitCompositeKey(kv.Key)
		if err != nil || len(parts) == 0 {
			return contract.Fail(contract.Internal("malformed key %q in %s", kv.Key, objectType))
		}
		id := parts[len(parts)-1]
		var w Work
		if indexed {
			key, err := WorkKey(id)
			if err != nil {
				return contract.Fail(err)
			}
			rec, ver, err := load(ctx, key, id)
			if err != nil {
				return contract.Fail(contract.Internal("index %s points to work %q: %v", objectType, id, err))
			}
			w = work(rec, ver)
		} else {
			var rec Record
			if err := unmarshalRecord(kv.Value, &rec); err != nil {
				return contract.Fail(contract.Internal("stored record of work %q is corrupt: %v", id, err))
			}
			v := kv.Version
			w = work(rec, &v)
		}
		if a.Author != "" && w.Author != a.Author {
			continue
		}
		if len(out.Works) == a.Limit {
			out.More = true
			break
		}
		out.Works = append(out.Works, w)
	}
	return contract.OK(out.AppendJSON(nil))
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// String describes a record in one line (for logs and tests).
func (r Record) String() string {
	return fmt.Sprintf("%s %q by %s owned by %s (%s, %s)", r.ID, r.Title, r.Author, r.Owner, r.Type, r.ContentHash)
}
