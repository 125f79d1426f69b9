package vm

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/channel"
)

// simulator is the deterministic core of a call: it answers the guest's
// state requests from a State at a fixed height and records what the call
// read (key and committed version), which ranges it scanned, what it wrote,
// its events and its response. It never writes to the State. It has no
// clock, goroutines or I/O and is used by one call on one goroutine.
type simulator struct {
	ns       string
	state    State
	readOnly bool
	maxValue int

	// reads holds the first committed read of each key (nil version: the
	// key was absent); later reads of the key are answered from it.
	reads map[string]committed
	// seen holds committed entries returned by range queries; a later
	// GetState of such a key is recorded as a read without asking State.
	seen   map[string]committed
	writes map[string]pending
	ranges []*foliov1.RangeRead
	events []*foliov1.ContractEvent
	resp   *foliov1.Response
	// notBefore is the latest commit_not_before time, Unix nanoseconds
	// (0: none).
	notBefore int64
	// orgs is what channel_orgs answers (Options.ChannelOrgs; nil:
	// unavailable) before any config update is recorded in state.
	orgs []string
	// configRead is the version of the channel configuration channel_orgs
	// answered from, recorded in the read set from capability level 4 on
	// (nil: none).
	configRead *foliov1.Version
}

type committed struct {
	value []byte
	ver   *foliov1.Version
}

type pending struct {
	value []byte
	del   bool
}

// refusal is a request the simulator turns down; it goes back to the guest
// as -errno with msg as the pending result. Any other error from the
// simulator is fatal to the call.
type refusal struct {
	errno abi.Errno
	msg   string
}

func (r *refusal) Error() string { return r.errno.String() + ": " + r.msg }

func refuse(errno abi.Errno, format string, args ...any) error {
	return &refusal{errno: errno, msg: fmt.Sprintf(format, args...)}
}

func newSimulator(ns string, st State, readOnly bool, maxValue int) *simulator {
	return &simulator{
		ns:       ns,
		state:    st,
		readOnly: readOnly,
		maxValue: maxValue,
		reads:    map[string]committed{},
		seen:     map[string]committed{},
		writes:   map[string]pending{},
	}
}

func checkKey(key string) error {
	if err := abi.ValidKey(key); err != nil {
		return refuse(abi.ErrnoInvalidKey, "%v", err)
	}
	return nil
}

func cloneVersion(v *foliov1.Version) *foliov1.Version {
	if v == nil {
		return nil
	}
	return &foliov1.Version{BlockNum: v.BlockNum, TxNum: v.TxNum}
}

func abiVersion(v *foliov1.Version) abi.KeyVersion {
	return abi.KeyVersion{Block: v.GetBlockNum(), Tx: v.GetTxNum()}
}

// get answers GetState: this call's pending write if any, else the
// committed value, recording the first committed read of the key.
func (s *simulator) get(key string) (abi.GetResult, error) {
	if err := checkKey(key); err != nil {
		return abi.GetResult{}, err
	}
	if w, ok := s.writes[key]; ok {
		if w.del {
			return abi.GetResult{}, nil
		}
		return abi.GetResult{Found: true, Value: w.value}, nil
	}
	c, ok := s.reads[key]
	if !ok {
		if c, ok = s.seen[key]; !ok {
			v, ver, err := s.state.Get(s.ns, key)
			if err != nil {
				return abi.GetResult{}, fmt.Errorf("%w: get %q: %w", ErrState, key, err)
			}
			c = committed{ver: cloneVersion(ver)}
			if ver != nil {
				c.value = v
			}
		}
		s.reads[key] = c
	}
	if c.ver == nil {
		return abi.GetResult{}, nil
	}
	return abi.GetResult{Found: true, HasVersion: true, Version: abiVersion(c.ver), Value: c.value}, nil
}

func (s *simulator) put(key string, value []byte) error {
	if s.readOnly {
		return refuse(abi.ErrnoReadOnly, "cannot write %q in a read-only call", key)
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > s.maxValue {
		return refuse(abi.ErrnoTooLarge, "value of %q has %d bytes, limit %d", key, len(value), s.maxValue)
	}
	s.writes[key] = pending{value: append([]byte(nil), value...)}
	return nil
}

func (s *simulator) del(key string) error {
	if s.readOnly {
		return refuse(abi.ErrnoReadOnly, "cannot delete %q in a read-only call", key)
	}
	if err := checkKey(key); err != nil {
		return err
	}
	s.writes[key] = pending{del: true}
	return nil
}

func checkBound(k string) error {
	if len(k) > abi.MaxKeyBytes || !utf8.ValidString(k) {
		return refuse(abi.ErrnoInvalidKey, "range bound %q is not a valid key", k)
	}
	return nil
}

// scan answers one page of a range query over committed state [start,
// end) and records it for phantom detection. A page that continues the
// previous range read (same end, starting just after its last key) extends
// that read, so the read set does not depend on the SDK's page size.
func (s *simulator) scan(start, end string, limit int) (abi.RangePage, error) {
	if err := checkBound(start); err != nil {
		return abi.RangePage{}, err
	}
	if err := checkBound(end); err != nil {
		return abi.RangePage{}, err
	}
	if end != "" && end <= start {
		return abi.RangePage{}, refuse(abi.ErrnoInvalidArgument, "empty range [%q, %q)", start, end)
	}
	if limit < 1 || limit > abi.MaxRangeLimit {
		return abi.RangePage{}, refuse(abi.ErrnoInvalidArgument, "range limit %d outside [1, %d]", limit, abi.MaxRangeLimit)
	}
	kvs, more, err := s.state.Range(s.ns, start, end, limit)
	if err != nil {
		return abi.RangePage{}, fmt.Errorf("%w: range [%q, %q): %w", ErrState, start, end, err)
	}
	if err := checkRange(kvs, start, end, limit); err != nil {
		return abi.RangePage{}, fmt.Errorf("%w: range [%q, %q): %w", ErrState, start, end, err)
	}
	page := abi.RangePage{More: more}
	reads := make([]*foliov1.KVRead, len(kvs))
	if len(kvs) > 0 {
		page.Entries = make([]abi.KV, len(kvs))
	}
	for i, kv := range kvs {
		ver := cloneVersion(kv.Version)
		reads[i] = &foliov1.KVRead{Key: kv.Key, Version: ver}
		page.Entries[i] = abi.KV{Key: kv.Key, Value: kv.Value, Version: abiVersion(ver)}
		if _, ok := s.reads[kv.Key]; !ok {
			s.seen[kv.Key] = committed{value: kv.Value, ver: ver}
		}
	}
	if n := len(s.ranges); n > 0 {
		last := s.ranges[n-1]
		if m := len(last.Reads); last.EndKey == end && !last.Exhausted && m > 0 && start == last.Reads[m-1].Key+"\x00" {
			last.Reads = append(last.Reads, reads...)
			last.Exhausted = !more
			return page, nil
		}
	}
	s.ranges = append(s.ranges, &foliov1.RangeRead{StartKey: start, EndKey: end, Exhausted: !more, Reads: reads})
	return page, nil
}

// checkRange verifies what State.Range returned: at most limit entries,
// valid keys strictly ascending inside [start, end), each with a version.
func checkRange(kvs []KV, start, end string, limit int) error {
	if len(kvs) > limit {
		return fmt.Errorf("%d entries for limit %d", len(kvs), limit)
	}
	for i, kv := range kvs {
		switch {
		case abi.ValidKey(kv.Key) != nil:
			return fmt.Errorf("invalid key %q", kv.Key)
		case kv.Key < start || (end != "" && kv.Key >= end):
			return fmt.Errorf("key %q outside the range", kv.Key)
		case i > 0 && kvs[i-1].Key >= kv.Key:
			return fmt.Errorf("keys not ascending at %q", kv.Key)
		case kv.Version == nil:
			return fmt.Errorf("key %q without a version", kv.Key)
		}
	}
	return nil
}

// history answers GetHistoryForKey. History queries are not recorded in
// the read set (as in Fabric): they are not validated at commit.
func (s *simulator) history(key string) (abi.History, error) {
	if err := checkKey(key); err != nil {
		return abi.History{}, err
	}
	entries, err := s.state.History(s.ns, key)
	if err != nil {
		return abi.History{}, fmt.Errorf("%w: history of %q: %w", ErrState, key, err)
	}
	h := abi.History{}
	if len(entries) > 0 {
		h.Entries = make([]abi.HistoryEntry, len(entries))
	}
	for i, e := range entries {
		if e.Version == nil {
			return abi.History{}, fmt.Errorf("%w: history of %q: entry %d without a version", ErrState, key, i)
		}
		x := abi.HistoryEntry{TxID: e.TxID, Version: abiVersion(e.Version), Timestamp: e.Timestamp, IsDelete: e.IsDelete}
		if !e.IsDelete {
			x.Value = e.Value
		}
		h.Entries[i] = x
	}
	return h, nil
}

func (s *simulator) event(contract, name string, payload []byte) error {
	switch {
	case s.readOnly:
		return refuse(abi.ErrnoReadOnly, "cannot set event %q in a read-only call", name)
	case name == "" || len(name) > abi.MaxEventNameBytes || !utf8.ValidString(name):
		return refuse(abi.ErrnoInvalidArgument, "event name must be 1..%d bytes of UTF-8", abi.MaxEventNameBytes)
	case len(payload) > s.maxValue:
		return refuse(abi.ErrnoTooLarge, "event %q payload has %d bytes, limit %d", name, len(payload), s.maxValue)
	case len(s.events) >= abi.MaxEvents:
		return refuse(abi.ErrnoLimit, "a call may set at most %d events", abi.MaxEvents)
	}
	s.events = append(s.events, &foliov1.ContractEvent{Contract: contract, Name: name, Payload: append([]byte(nil), payload...)})
	return nil
}

func (s *simulator) respond(status int32, msg string, payload []byte) error {
	switch {
	case s.resp != nil:
		return refuse(abi.ErrnoInvalidArgument, "response already set")
	case status < abi.MinStatus || status > abi.MaxStatus:
		return refuse(abi.ErrnoInvalidArgument, "status %d outside [%d, %d]", status, abi.MinStatus, abi.MaxStatus)
	case !utf8.ValidString(msg):
		return refuse(abi.ErrnoInvalidArgument, "response message is not valid UTF-8")
	case len(msg)+len(payload) > s.maxResponse():
		return refuse(abi.ErrnoTooLarge, "response has %d bytes, limit %d", len(msg)+len(payload), s.maxResponse())
	}
	s.resp = &foliov1.Response{Status: status, Message: msg, Payload: append([]byte(nil), payload...)}
	return nil
}

// commitNotBefore records the call's assertion that its transaction
// commits only in a block stamped at or after n (Unix nanoseconds); the
// latest of several wins. It is recorded in read-only calls too, where
// nothing commits: a handler shared by evaluate and submit runs the same.
func (s *simulator) commitNotBefore(n int64) error {
	if n <= 0 {
		return refuse(abi.ErrnoInvalidArgument, "commit_not_before time %d is not after the Unix epoch", n)
	}
	s.notBefore = max(s.notBefore, n)
	return nil
}

// channelOrgs answers channel_orgs: the member (non-orderer)
// organisations of the channel configuration in force at the height the
// call reads (the last accepted config update is recorded in state,
// channel.Namespace), else the genesis configuration's
// (Options.ChannelOrgs). Every endorser simulating at one height answers
// alike. From capability level 4 on, where config updates add and remove
// organisations, the configuration's version goes into the read set, so a
// membership change committed between endorsement and commit makes the
// transaction an MVCC conflict instead of letting it act on the old
// membership (validation accepts that one read outside the contract's
// namespace from level 4 on). Below level 4 the set of organisations
// cannot change, so the answer is the genesis one at every height and
// nothing is recorded: old blocks replay as they were.
func (s *simulator) channelOrgs() (abi.OrgList, error) {
	raw, ver, err := s.state.Get(channel.Namespace, channel.UpdateKey)
	if err != nil {
		return abi.OrgList{}, refuse(abi.ErrnoUnavailable, "read the channel configuration: %v", err)
	}
	if ver != nil {
		var u foliov1.ConfigUpdate
		if err := proto.Unmarshal(raw, &u); err != nil || u.Config == nil {
			return abi.OrgList{}, refuse(abi.ErrnoUnavailable, "the recorded channel configuration does not decode")
		}
		if u.Config.Capability >= channel.CapabilityV4 && s.configRead == nil {
			s.configRead = cloneVersion(ver)
		}
		var orgs []string
		for _, o := range u.Config.Orgs {
			if o.Kind != foliov1.OrgKind_ORG_KIND_ORDERER {
				orgs = append(orgs, o.Name)
			}
		}
		slices.Sort(orgs)
		return abi.OrgList{Orgs: slices.Compact(orgs)}, nil
	}
	if s.orgs == nil {
		return abi.OrgList{}, refuse(abi.ErrnoUnavailable, "this host was not given the channel's organisations")
	}
	return abi.OrgList{Orgs: s.orgs}, nil
}

// maxResponse is the response limit: MaxValueBytes, but never below what
// the ABI promises the SDK (abi.MinResponseLimit).
func (s *simulator) maxResponse() int { return max(s.maxValue, abi.MinResponseLimit) }

// rwset returns the call's read/write set: the contract's namespace (none
// if the call touched no state), reads and writes sorted by key, range
// reads in the order the call made them, then the channel configuration's
// version if channel_orgs recorded it, and the commit_not_before time.
func (s *simulator) rwset() *foliov1.ReadWriteSet {
	rw := s.ownRwset()
	if s.configRead != nil {
		rw.NsRwsets = append(rw.NsRwsets, &foliov1.NsReadWriteSet{Namespace: channel.Namespace,
			Reads: []*foliov1.KVRead{{Key: channel.UpdateKey, Version: cloneVersion(s.configRead)}}})
	}
	return rw
}

// ownRwset is the read/write set of the contract's own namespace.
func (s *simulator) ownRwset() *foliov1.ReadWriteSet {
	if len(s.reads) == 0 && len(s.writes) == 0 && len(s.ranges) == 0 {
		return &foliov1.ReadWriteSet{NotBeforeUnixNano: s.notBefore}
	}
	ns := &foliov1.NsReadWriteSet{Namespace: s.ns, RangeReads: s.ranges}
	for _, k := range sortedKeys(s.reads) {
		ns.Reads = append(ns.Reads, &foliov1.KVRead{Key: k, Version: cloneVersion(s.reads[k].ver)})
	}
	for _, k := range sortedKeys(s.writes) {
		w := s.writes[k]
		kw := &foliov1.KVWrite{Key: k, IsDelete: w.del}
		if !w.del {
			kw.Value = w.value
		}
		ns.Writes = append(ns.Writes, kw)
	}
	return &foliov1.ReadWriteSet{NsRwsets: []*foliov1.NsReadWriteSet{ns}, NotBeforeUnixNano: s.notBefore}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// asRefusal reports whether err is a refusal for the guest.
func asRefusal(err error) (*refusal, bool) {
	var r *refusal
	ok := errors.As(err, &r)
	return r, ok
}
