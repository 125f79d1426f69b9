package copyright

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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
	objHashIdx  = "hash~id"
)

// RelationDerivativeOf prefixes RegisterArgs.Relation and
// Record.Relation: "derivative-of:W1" declares the work derived from W1.
// RelationDuplicateOf prefixes a Record.Relation that register wrote for
// AllowDuplicate: the earliest registration of the same content hash.
const (
	RelationDerivativeOf = "derivative-of:"
	RelationDuplicateOf  = "duplicate-of:"
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
	// Relation "derivative-of:ID" registers a work derived from the
	// registered work ID (its content hash may be one already
	// registered). AllowDuplicate registers a content hash that is
	// already registered, on purpose. Without either, register refuses a
	// content hash registered before, naming that registration.
	Relation       string `json:"relation,omitempty"`
	AllowDuplicate bool   `json:"allow_duplicate,omitempty"`
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

// ListArgs is the argument of list: works of Owner and/or Author and/or
// content hash Hash (all works if none), in ID order, at most Limit
// (default 100, max 1000).
type ListArgs struct {
	Owner  string `json:"owner,omitempty"`
	Author string `json:"author,omitempty"`
	Hash   string `json:"hash,omitempty"`
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
	if err == nil {
		err = checkRelation(a)
	}
	if err != nil {
		return contract.Fail(err)
	}
	if err := checkMember(ctx, who, "owner", a.Owner); err != nil {
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
	relation, err := priority(ctx, a, hash)
	if err != nil {
		return contract.Fail(err)
	}
	now := stamp(ctx.Timestamp())
	rec := Record{
		ID: a.ID, Title: a.Title, Author: a.Author, Owner: a.Owner, Type: a.Type, ContentHash: hash,
		RegisteredAt: now, RegisteredBy: who.Label(),
		Action: ActionRegister, UpdatedBy: who.Label(), UpdatedAt: now,
		Relation: relation,
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
	hashKey, err := contract.CreateCompositeKey(objHashIdx, rec.ContentHash, rec.ID)
	if err != nil {
		return contract.Fail(contract.BadRequest("content_hash", "content_hash: %v", err))
	}
	if err := firstErr(
		ctx.PutState(key, value),
		ctx.PutState(ownerKey, indexValue),
		ctx.PutState(authorKey, indexValue),
		ctx.PutState(hashKey, indexValue),
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
	if err := checkMember(ctx, who, "to", a.To); err != nil {
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
	if a.Hash != "" {
		h, err := normHash("hash", a.Hash)
		if err != nil {
			return contract.Fail(err)
		}
		a.Hash = h
	}
	var (
		objectType string
		attrs      []string
		indexed    = true
	)
	switch {
	case a.Hash != "":
		objectType, attrs = objHashIdx, []string{a.Hash}
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
		if (a.Author != "" && w.Author != a.Author) || (a.Owner != "" && w.Owner != a.Owner) || (a.Hash != "" && w.ContentHash != a.Hash) {
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

// checkRelation validates register's relation options: "derivative-of:"
// and a work ID, or AllowDuplicate, not both.
func checkRelation(a RegisterArgs) error {
	if a.Relation == "" {
		return nil
	}
	if a.AllowDuplicate {
		return contract.BadRequest("relation", "relation %q and allow_duplicate exclude each other: a work is a derivative or a duplicate", a.Relation)
	}
	id, ok := strings.CutPrefix(a.Relation, RelationDerivativeOf)
	if !ok {
		return contract.BadRequest("relation", "relation %q is not %sID", truncate(a.Relation, 80), RelationDerivativeOf)
	}
	if err := checkID("relation", id); err != nil {
		return contract.BadRequest("relation", "relation %q: the work ID: %v", truncate(a.Relation, 80), err)
	}
	if id == a.ID {
		return contract.BadRequest("relation", "work %q cannot be a derivative of itself", a.ID)
	}
	return nil
}

// checkMember refuses an owner ("user@Org", field names the argument)
// whose organisation is not a member of the channel: a work owned there
// could never be transferred again, since nobody of that organisation can
// sign. The caller's own organisation is a member (the MSP validated the
// caller); any other is looked up in the channel's organisations in force
// at the height the call reads (contract.Context.ChannelOrgs), so every
// endorser at that height decides alike.
func checkMember(ctx contract.Context, who contract.Identity, field, owner string) error {
	org := orgOf(owner)
	if org == who.Org {
		return nil
	}
	orgs, err := ctx.ChannelOrgs()
	if err != nil {
		return fmt.Errorf("%s %q: cannot check its organisation: %w", field, owner, err)
	}
	if slices.Contains(orgs, org) {
		return nil
	}
	hint := ""
	for _, o := range orgs {
		if strings.EqualFold(o, org) {
			hint = fmt.Sprintf(" (did you mean %s?)", o)
		}
	}
	return contract.BadRequest(field, "%s %q: organisation %s is not a member of channel %s%s; members: %s",
		field, owner, org, ctx.ChannelID(), hint, strings.Join(orgs, ", "))
}

// priority enforces content-hash priority for register: the first
// registration of a content hash stands, and a later one is refused,
// naming the earlier registration (work, owner, who registered it, when,
// in which block), unless it declares itself a derivative (a.Relation) or
// a deliberate duplicate (a.AllowDuplicate). It returns the relation to
// record: a.Relation, "duplicate-of:ID" of the original registration, or
// "". The hash index scan is in the read set, so two registrations of one
// hash racing in a block cannot both commit (the later is a phantom read
// conflict): priority is decided by block order, the same on every peer.
func priority(ctx contract.Context, a RegisterArgs, hash string) (string, error) {
	if a.Relation != "" {
		id := strings.TrimPrefix(a.Relation, RelationDerivativeOf)
		key, err := WorkKey(id)
		if err != nil {
			return "", contract.BadRequest("relation", "relation: %v", err)
		}
		if _, _, err := load(ctx, key, id); err != nil {
			if e := (*contract.Error)(nil); errors.As(err, &e) && e.Status == 404 {
				return "", contract.BadRequest("relation", "relation %q: work %q is not registered", a.Relation, id)
			}
			return "", err
		}
	}
	var (
		orig  Record
		found bool
		count int
	)
	for kv, err := range ctx.GetStateByPartialCompositeKey(objHashIdx, hash) {
		if err != nil {
			return "", err
		}
		_, parts, err := contract.SplitCompositeKey(kv.Key)
		if err != nil || len(parts) != 2 {
			return "", contract.Internal("malformed key %q in %s", kv.Key, objHashIdx)
		}
		key, err := WorkKey(parts[1])
		if err != nil {
			return "", err
		}
		rec, _, err := load(ctx, key, parts[1])
		if err != nil {
			return "", contract.Internal("index %s points to work %q: %v", objHashIdx, parts[1], err)
		}
		count++
		// The original is the registration that declared no relation
		// (every later one had to); among several (none refused them),
		// the earliest.
		if !found || earlierOriginal(rec, orig) {
			orig, found = rec, true
		}
	}
	switch {
	case a.Relation != "":
		return a.Relation, nil
	case !found:
		return "", nil
	case a.AllowDuplicate:
		return RelationDuplicateOf + orig.ID, nil
	}
	block := ""
	if key, err := WorkKey(orig.ID); err == nil {
		if h, err := ctx.GetHistoryForKey(key); err == nil && len(h) > 0 {
			block = fmt.Sprintf(", block %d", h[0].Version.Block)
		}
	}
	others := ""
	if count > 1 {
		others = fmt.Sprintf(" (and %d later registrations: folio work list --hash %s)", count-1, hash)
	}
	return "", contract.Conflict("content hash %s is already registered as work %q%s: owner %s, registered by %s at %s%s. "+
		"To register it anyway, declare the relation: a derivative with relation %q (folio work register --derivative-of %s) "+
		"or a deliberate duplicate with allow_duplicate (--duplicate)",
		hash, orig.ID, others, orig.Owner, orig.RegisteredBy, orig.RegisteredAt, block, RelationDerivativeOf+orig.ID, orig.ID)
}

// earlierOriginal reports whether r rather than o is the original
// registration of their content hash: the one without a relation, else
// the one registered first (transaction timestamps; IDs break ties).
func earlierOriginal(r, o Record) bool {
	if (r.Relation == "") != (o.Relation == "") {
		return r.Relation == ""
	}
	rt, err1 := time.Parse(time.RFC3339Nano, r.RegisteredAt)
	ot, err2 := time.Parse(time.RFC3339Nano, o.RegisteredAt)
	if err1 == nil && err2 == nil && !rt.Equal(ot) {
		return rt.Before(ot)
	}
	return r.ID < o.ID
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
