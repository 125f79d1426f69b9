package release

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/folio-ledger/folio/contract"
)

// Function names.
const (
	FnCreate       = "create"
	FnGet          = "get"
	FnList         = "list"
	FnPublishShare = "publish_share"
	FnReportAccess = "report_access"
	FnReport       = "report"
)

// Events set by the contract.
const (
	EventCreated   = "release.created"
	EventPublished = "release.share_published"
	EventAccess    = "release.access"
)

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Composite key object types.
const (
	objRelease = "release"
	objRID     = "rid"
	objShare   = "share"
	objAccess  = "access"
)

// New returns the router of the release contract.
func New() *contract.Router {
	r := contract.NewRouter()
	r.Handle(FnCreate, create)
	r.Handle(FnGet, get)
	r.Handle(FnList, list)
	r.Handle(FnPublishShare, publishShare)
	r.Handle(FnReportAccess, reportAccess)
	r.Handle(FnReport, report)
	return r
}

// RefArgs names a release: by work and owner, or by ID.
type RefArgs struct {
	Work  string `json:"work,omitempty"`
	Owner string `json:"owner,omitempty"`
	ID    string `json:"id,omitempty"`
}

// ListArgs is the argument of list.
type ListArgs struct {
	Limit int `json:"limit,omitempty"`
}

// PublishArgs is the argument of publish_share: a key server's signed
// statement that it released share Index at SentAt.
type PublishArgs struct {
	Work   string `json:"work"`
	Owner  string `json:"owner"`
	Index  int    `json:"index"`
	Share  string `json:"share"`
	SentAt string `json:"sent_at"`
	NodeID string `json:"node_id"`
	Sig    string `json:"sig"`
}

// AccessArgs is the argument of report_access.
type AccessArgs struct {
	Work                 string `json:"work"`
	Owner                string `json:"owner"`
	Client               string `json:"client,omitempty"`
	Edge                 string `json:"edge,omitempty"`
	EdgeDecrypt          bool   `json:"edge_decrypt,omitempty"`
	CiphertextCompleteAt string `json:"ciphertext_complete_at,omitempty"`
	KeyReceivedAt        string `json:"key_received_at,omitempty"`
	AccessAt             string `json:"access_at,omitempty"`
	SHA256               string `json:"sha256,omitempty"`
	Shares               []int  `json:"shares,omitempty"`
	Error                string `json:"error,omitempty"`
}

// View is what get answers.
type View struct {
	Release Record            `json:"release"`
	Shares  []Published       `json:"shares"`
	Version *contract.Version `json:"version,omitempty"`
}

// ReportView is what report answers.
type ReportView struct {
	Release  Record      `json:"release"`
	Shares   []Published `json:"shares"`
	Accesses []Access    `json:"accesses"`
}

// ListView is what list answers.
type ListView struct {
	Releases []Record `json:"releases"`
	More     bool     `json:"more,omitempty"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func caller(ctx contract.Context) (contract.Identity, error) {
	id := ctx.Creator()
	if id.Name == "" || id.Org == "" {
		return id, contract.Forbidden("the caller's identity has no name or organisation")
	}
	return id, nil
}

func releaseKey(work, owner string) (string, error) {
	return contract.CreateCompositeKey(objRelease, work, owner)
}

func create(ctx contract.Context) contract.Response {
	var r Record
	if err := contract.BindJSON(ctx, &r); err != nil {
		return contract.Fail(err)
	}
	who, err := caller(ctx)
	if err != nil {
		return contract.Fail(err)
	}
	if who.Label() != r.Owner {
		return contract.Fail(contract.Forbidden("%s may not release work %q for %s: only the owner may release a work", who.Label(), r.Work, r.Owner))
	}
	if err := r.Validate(); err != nil {
		return contract.Fail(err)
	}
	release, _, _ := r.Times()
	if now := ctx.Timestamp(); !release.After(now) {
		return contract.Fail(contract.BadRequest("release_at", "release time %s is not in the future (transaction time %s)", r.ReleaseAt, stamp(now)))
	}
	key, err := releaseKey(r.Work, r.Owner)
	if err != nil {
		return contract.Fail(contract.BadRequest("work", "work: %v", err))
	}
	old, err := ctx.GetState(key)
	if err != nil {
		return contract.Fail(err)
	}
	if old != nil {
		return contract.Fail(contract.Conflict("work %q already has a release by %s", r.Work, r.Owner))
	}
	r.ID = ReleaseID(r.Work, r.Owner)
	r.CreatedAt, r.CreatedBy, r.TxID = stamp(ctx.Timestamp()), who.Label(), ctx.TxID()
	if r.TrustedEdges == nil {
		r.TrustedEdges = []string{}
	}
	sort.Slice(r.KeyServers, func(i, j int) bool { return r.KeyServers[i].Index < r.KeyServers[j].Index })
	value, err := json.Marshal(r)
	if err != nil {
		return contract.Fail(err)
	}
	ridKey, err := contract.CreateCompositeKey(objRID, r.ID)
	if err != nil {
		return contract.Fail(err)
	}
	ref, _ := json.Marshal(RefArgs{Work: r.Work, Owner: r.Owner})
	if err := firstErr(ctx.PutState(key, value), ctx.PutState(ridKey, ref), ctx.SetEvent(EventCreated, value)); err != nil {
		return contract.Fail(err)
	}
	return contract.OK(value)
}

// load reads a release by reference.
func load(ctx contract.Context, a RefArgs) (Record, *contract.Version, error) {
	if a.ID != "" && a.Work == "" {
		k, err := contract.CreateCompositeKey(objRID, a.ID)
		if err != nil {
			return Record{}, nil, contract.BadRequest("id", "id: %v", err)
		}
		b, err := ctx.GetState(k)
		if err != nil {
			return Record{}, nil, err
		}
		if b == nil {
			return Record{}, nil, contract.NotFound("no release with ID %q", a.ID)
		}
		if err := json.Unmarshal(b, &a); err != nil {
			return Record{}, nil, contract.Internal("release index %q is corrupt: %v", a.ID, err)
		}
	}
	if !idPattern.MatchString(a.Work) {
		return Record{}, nil, contract.BadRequest("work", "work %q is not a valid work ID", a.Work)
	}
	if !ownerPattern.MatchString(a.Owner) {
		return Record{}, nil, contract.BadRequest("owner", "owner %q: want user@Org", a.Owner)
	}
	key, err := releaseKey(a.Work, a.Owner)
	if err != nil {
		return Record{}, nil, contract.BadRequest("work", "work: %v", err)
	}
	b, ver, err := ctx.GetStateVersion(key)
	if err != nil {
		return Record{}, nil, err
	}
	if b == nil {
		return Record{}, nil, contract.NotFound("work %q has no release by %s", a.Work, a.Owner)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, nil, contract.Internal("stored release of %q is corrupt: %v", a.Work, err)
	}
	return r, ver, nil
}

func shares(ctx contract.Context, r Record) ([]Published, error) {
	out := []Published{}
	for kv, err := range ctx.GetStateByPartialCompositeKey(objShare, r.Work, r.Owner) {
		if err != nil {
			return nil, err
		}
		var p Published
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return nil, contract.Internal("stored share %q is corrupt: %v", kv.Key, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func get(ctx contract.Context) contract.Response {
	var a RefArgs
	if err := contract.BindJSON(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	r, ver, err := load(ctx, a)
	if err != nil {
		return contract.Fail(err)
	}
	sh, err := shares(ctx, r)
	if err != nil {
		return contract.Fail(err)
	}
	return contract.JSON(View{Release: r, Shares: sh, Version: ver})
}

func list(ctx contract.Context) contract.Response {
	var a ListArgs
	if len(ctx.Args()) != 0 {
		if err := contract.BindJSON(ctx, &a); err != nil {
			return contract.Fail(err)
		}
	}
	switch {
	case a.Limit == 0:
		a.Limit = DefaultListLimit
	case a.Limit < 0 || a.Limit > MaxListLimit:
		return contract.Fail(contract.BadRequest("limit", "limit %d is not within 1..%d", a.Limit, MaxListLimit))
	}
	out := ListView{Releases: []Record{}}
	for kv, err := range ctx.GetStateByPartialCompositeKey(objRelease) {
		if err != nil {
			return contract.Fail(err)
		}
		if len(out.Releases) == a.Limit {
			out.More = true
			break
		}
		var r Record
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return contract.Fail(contract.Internal("stored release %q is corrupt: %v", kv.Key, err))
		}
		out.Releases = append(out.Releases, r)
	}
	return contract.JSON(out)
}

func publishShare(ctx contract.Context) contract.Response {
	var a PublishArgs
	if err := contract.BindJSON(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	who, err := caller(ctx)
	if err != nil {
		return contract.Fail(err)
	}
	r, _, err := load(ctx, RefArgs{Work: a.Work, Owner: a.Owner})
	if err != nil {
		return contract.Fail(err)
	}
	ks, ok := r.KeyServer(a.Index)
	if !ok {
		return contract.Fail(contract.BadRequest("index", "release of %q has no key server with share index %d", r.Work, a.Index))
	}
	if a.NodeID != ks.NodeID {
		return contract.Fail(contract.Forbidden("share %d belongs to key server %s (%s), not node %s", a.Index, ks.Name, short(ks.NodeID), short(a.NodeID)))
	}
	release, _, _ := r.Times()
	now := ctx.Timestamp()
	// The proposal timestamp is the caller's word, which endorsers accept
	// up to their time window (minutes) ahead of their clocks: checking it
	// refuses an early publication at endorsement, and CommitNotBefore
	// makes validation check the same rule against the orderer-signed
	// block timestamp, so a share committed as valid was never on the
	// ledger before T.
	if now.Before(release) {
		return contract.Fail(contract.Forbidden("share %d of %q published at %s, before the release time %s: refused", a.Index, r.Work, stamp(now), r.ReleaseAt))
	}
	if err := ctx.CommitNotBefore(release); err != nil {
		return contract.Fail(err)
	}
	sentAt, err := time.Parse(time.RFC3339Nano, a.SentAt)
	if err != nil {
		return contract.Fail(contract.BadRequest("sent_at", "sent_at %q is not an RFC 3339 time", a.SentAt))
	}
	if sentAt.Before(release) {
		return contract.Fail(contract.Forbidden("key server %s states it sent share %d at %s, before the release time %s: refused", ks.Name, a.Index, a.SentAt, r.ReleaseAt))
	}
	share, err := hex.DecodeString(a.Share)
	if err != nil || len(share) == 0 || len(share) > MaxShareBytes {
		return contract.Fail(contract.BadRequest("share", "share must be 1..%d bytes of hex", MaxShareBytes))
	}
	commit, _ := hex.DecodeString(ks.ShareCommit)
	if !bytes.Equal(ShareCommitment(r.ID, a.Index, share), commit) {
		return contract.Fail(contract.Forbidden("share %d of %q does not match its commitment: forged or corrupt", a.Index, r.Work))
	}
	sig, err := hex.DecodeString(a.Sig)
	if err != nil {
		return contract.Fail(contract.BadRequest("sig", "sig must be hex"))
	}
	pub, _ := hex.DecodeString(ks.NodeKey)
	if err := VerifyP256(pub, DomainShare, ShareStatement(r.ID, a.Index, share, sentAt, ks.NodeID), sig); err != nil {
		return contract.Fail(contract.Forbidden("share %d of %q: the key server's signature does not verify", a.Index, r.Work))
	}
	key, err := contract.CreateCompositeKey(objShare, r.Work, r.Owner, fmt.Sprintf("%03d", a.Index))
	if err != nil {
		return contract.Fail(err)
	}
	old, err := ctx.GetState(key)
	if err != nil {
		return contract.Fail(err)
	}
	if old != nil {
		return contract.Fail(contract.Conflict("share %d of %q is already published", a.Index, r.Work))
	}
	p := Published{Index: a.Index, Share: a.Share, SentAt: stamp(sentAt), NodeID: a.NodeID, Sig: a.Sig,
		PublishedAt: stamp(now), PublishedBy: who.Label(), TxID: ctx.TxID()}
	value, err := json.Marshal(p)
	if err != nil {
		return contract.Fail(err)
	}
	if err := firstErr(ctx.PutState(key, value), ctx.SetEvent(EventPublished, value)); err != nil {
		return contract.Fail(err)
	}
	return contract.OK(value)
}

func checkTime(field, v string) error {
	if v == "" {
		return nil
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
		return contract.BadRequest(field, "%s %q is not an RFC 3339 time", field, v)
	}
	return nil
}

func reportAccess(ctx contract.Context) contract.Response {
	var a AccessArgs
	if err := contract.BindJSON(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	who, err := caller(ctx)
	if err != nil {
		return contract.Fail(err)
	}
	r, _, err := load(ctx, RefArgs{Work: a.Work, Owner: a.Owner})
	if err != nil {
		return contract.Fail(err)
	}
	if err := firstErr(
		checkTime("ciphertext_complete_at", a.CiphertextCompleteAt),
		checkTime("key_received_at", a.KeyReceivedAt),
		checkTime("access_at", a.AccessAt),
	); err != nil {
		return contract.Fail(err)
	}
	switch {
	case !clientRe.MatchString(a.Client):
		return contract.Fail(contract.BadRequest("client", "client %q: at most %d of letters, digits and . _ : @ -", a.Client, MaxClientBytes))
	case a.Edge != "" && !nodePattern.MatchString(a.Edge):
		return contract.Fail(contract.BadRequest("edge", "edge %q is not a peer name", a.Edge))
	case a.SHA256 != "" && !hashPattern.MatchString(a.SHA256):
		return contract.Fail(contract.BadRequest("sha256", "sha256 must be sha256: and 64 lowercase hex digits"))
	case len(a.Error) > MaxErrorBytes:
		return contract.Fail(contract.BadRequest("error", "error has %d bytes, at most %d", len(a.Error), MaxErrorBytes))
	case len(a.Shares) > MaxKeyServers:
		return contract.Fail(contract.BadRequest("shares", "at most %d shares", MaxKeyServers))
	}
	label := who.Label()
	if a.Client != "" {
		label += "/" + a.Client
	}
	key, err := contract.CreateCompositeKey(objAccess, r.Work, r.Owner, who.Label(), a.Client)
	if err != nil {
		return contract.Fail(err)
	}
	acc := Access{Client: label, Edge: a.Edge, EdgeDecrypt: a.EdgeDecrypt, CiphertextCompleteAt: a.CiphertextCompleteAt,
		KeyReceivedAt: a.KeyReceivedAt, AccessAt: a.AccessAt, SHA256: a.SHA256, Shares: a.Shares, Error: a.Error,
		ReportedAt: stamp(ctx.Timestamp()), TxID: ctx.TxID()}
	value, err := json.Marshal(acc)
	if err != nil {
		return contract.Fail(err)
	}
	if err := firstErr(ctx.PutState(key, value), ctx.SetEvent(EventAccess, value)); err != nil {
		return contract.Fail(err)
	}
	return contract.OK(value)
}

func report(ctx contract.Context) contract.Response {
	var a RefArgs
	if err := contract.BindJSON(ctx, &a); err != nil {
		return contract.Fail(err)
	}
	r, _, err := load(ctx, a)
	if err != nil {
		return contract.Fail(err)
	}
	sh, err := shares(ctx, r)
	if err != nil {
		return contract.Fail(err)
	}
	out := ReportView{Release: r, Shares: sh, Accesses: []Access{}}
	for kv, err := range ctx.GetStateByPartialCompositeKey(objAccess, r.Work, r.Owner) {
		if err != nil {
			return contract.Fail(err)
		}
		var acc Access
		if err := json.Unmarshal(kv.Value, &acc); err != nil {
			return contract.Fail(contract.Internal("stored access %q is corrupt: %v", kv.Key, err))
		}
		out.Accesses = append(out.Accesses, acc)
	}
	return contract.JSON(out)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
