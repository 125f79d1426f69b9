package vm

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/types"
)

// mapState is a State over a map; every key is at version (1, index).
type mapState struct {
	m    map[string]string
	gets int
}

func (s *mapState) keys() []string {
	ks := make([]string, 0, len(s.m))
	for k := range s.m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (s *mapState) version(key string) *foliov1.Version {
	return &foliov1.Version{BlockNum: 1, TxNum: uint64(sort.SearchStrings(s.keys(), key))}
}

func (s *mapState) Get(ns, key string) ([]byte, *foliov1.Version, error) {
	s.gets++
	v, ok := s.m[key]
	if !ok {
		return nil, nil, nil
	}
	return []byte(v), s.version(key), nil
}

func (s *mapState) Range(ns, start, end string, limit int) ([]KV, bool, error) {
	var out []KV
	for _, k := range s.keys() {
		if k < start || (end != "" && k >= end) {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, KV{Key: k, Value: []byte(s.m[k]), Version: s.version(k)})
	}
	return out, false, nil
}

func (s *mapState) History(ns, key string) ([]HistoryEntry, error) {
	if v, ok := s.m[key]; ok {
		return []HistoryEntry{{TxID: "t", Version: s.version(key), Value: []byte(v)}}, nil
	}
	return nil, nil
}

func newTestSim(m map[string]string) (*simulator, *mapState) {
	st := &mapState{m: m}
	return newSimulator("ns", st, false, 1<<20), st
}

func TestSimulatorReadYourWrites(t *testing.T) {
	s, st := newTestSim(map[string]string{"a": "1", "b": "2"})
	g, _ := s.get("a")
	if !g.Found || !g.HasVersion || string(g.Value) != "1" {
		t.Fatalf("%+v", g)
	}
	s.get("a")
	if st.gets != 1 {
		t.Errorf("second read asked the state again (%d gets)", st.gets)
	}
	s.put("a", []byte("x"))
	if g, _ := s.get("a"); string(g.Value) != "x" || g.HasVersion {
		t.Fatalf("own write: %+v", g)
	}
	s.put("c", []byte("y"))
	s.del("c")
	if g, _ := s.get("c"); g.Found {
		t.Fatal("deleted key found")
	}
	s.del("b")
	rw := s.rwset()
	if err := types.ValidateReadWriteSet(rw); err != nil {
		t.Fatal(err)
	}
	ns := rw.NsRwsets[0]
	if len(ns.Reads) != 1 || ns.Reads[0].Key != "a" || len(ns.Writes) != 3 || !ns.Writes[1].IsDelete || !ns.Writes[2].IsDelete || ns.Writes[2].Value != nil {
		t.Fatalf("rwset %v", rw)
	}
}

func TestSimulatorRangeThenGet(t *testing.T) {
	s, st := newTestSim(map[string]string{"a": "1", "b": "2", "c": "3"})
	p, err := s.scan("a", "", 2)
	if err != nil || len(p.Entries) != 2 || !p.More {
		t.Fatalf("%+v %v", p, err)
	}
	p, _ = s.scan("b\x00", "", 2)
	if len(p.Entries) != 1 || p.More {
		t.Fatalf("%+v", p)
	}
	if g, _ := s.get("b"); string(g.Value) != "2" || g.Version.Tx != 1 {
		t.Fatalf("%+v", g)
	}
	if st.gets != 0 {
		t.Error("get of a scanned key asked the state")
	}
	// A scan that does not continue the last one is a new range read.
	s.scan("a", "b", 5)
	rw := s.rwset().NsRwsets[0]
	if len(rw.RangeReads) != 2 || len(rw.RangeReads[0].Reads) != 3 || !rw.RangeReads[0].Exhausted || rw.RangeReads[1].EndKey != "b" {
		t.Fatalf("range reads %v", rw.RangeReads)
	}
	if len(rw.Reads) != 1 || rw.Reads[0].Key != "b" {
		t.Fatalf("reads %v", rw.Reads)
	}
}

type badState struct{ mapState }

func (b *badState) Range(ns, start, end string, limit int) ([]KV, bool, error) {
	return []KV{{Key: "z"}, {Key: "a"}}, false, nil
}

func TestSimulatorChecksState(t *testing.T) {
	s := newSimulator("ns", &badState{}, false, 10)
	if _, err := s.scan("a", "b", 10); !errors.Is(err, ErrState) {
		t.Fatalf("bad range answer accepted: %v", err)
	}
	if _, ok := asRefusal(fmt.Errorf("x: %w", refuse(abi.ErrnoLimit, "y"))); !ok {
		t.Fatal("wrapped refusal not found")
	}
}

func TestSimulatorRefusals(t *testing.T) {
	s, _ := newTestSim(map[string]string{})
	s.maxValue = 4
	for name, err := range map[string]error{
		"empty key":   s.put("", nil),
		"bad utf8":    s.del("\xff"),
		"too large":   s.put("k", []byte("12345")),
		"event name":  s.event("c", "", nil),
		"status":      s.respond(100, "", nil),
		"bad message": s.respond(200, "\xff", nil),
		"epoch":       s.commitNotBefore(0),
		"before 1970": s.commitNotBefore(-1),
	} {
		if _, ok := asRefusal(err); !ok {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.scan("b", "a", 1); err == nil {
		t.Error("inverted range")
	}
	if _, err := s.scan("a", "", abi.MaxRangeLimit+1); err == nil {
		t.Error("limit")
	}
	// A response may exceed MaxValueBytes up to abi.MinResponseLimit.
	if err := s.respond(200, strings.Repeat("m", abi.MinResponseLimit), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.respond(200, "", nil); err == nil {
		t.Error("second response accepted")
	}
	ro := newSimulator("ns", &mapState{}, true, 10)
	for _, err := range []error{ro.put("k", nil), ro.del("k"), ro.event("c", "e", nil)} {
		if r, ok := asRefusal(err); !ok || r.errno != abi.ErrnoReadOnly {
			t.Errorf("read-only: %v", err)
		}
	}
	if rw := ro.rwset(); len(rw.NsRwsets) != 0 || rw.NotBeforeUnixNano != 0 {
		t.Errorf("empty call has rwset %v", rw)
	}
	if rw := s.rwset(); rw.NotBeforeUnixNano != 0 {
		t.Errorf("refused not-before times recorded: %v", rw)
	}
}

// FuzzSimulator checks the simulator against a naive model: a map of
// committed values with an overlay of pending writes. Each input byte pair
// is one operation on a small key space.
func FuzzSimulator(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 0, 1, 2, 1, 3, 0, 0, 2})
	f.Add([]byte{3, 0, 3, 1, 1, 0, 0, 0, 2, 3, 0, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		keys := []string{"a", "b", "c", "d"}
		committed := map[string]string{"a": "A", "c": "C"}
		run := func() ([]byte, string) {
			s, _ := newTestSim(map[string]string{"a": "A", "c": "C"})
			pending := map[string]*string{}
			readFirst := map[string]bool{}
			var log strings.Builder
			for i := 0; i+1 < len(ops); i += 2 {
				k := keys[int(ops[i+1])%len(keys)]
				switch ops[i] % 4 {
				case 0: // get
					g, err := s.get(k)
					if err != nil {
						t.Fatal(err)
					}
					want, found := committed[k]
					if p, ok := pending[k]; ok {
						found = p != nil
						if found {
							want = *p
						}
					} else if _, seen := readFirst[k]; !seen {
						readFirst[k] = true
					}
					if g.Found != found || (found && string(g.Value) != want) {
						t.Fatalf("get %s = %+v, model %q %v", k, g, want, found)
					}
					fmt.Fprintf(&log, "g%s=%s;", k, g.Value)
				case 1: // put
					v := fmt.Sprintf("v%d", i)
					if err := s.put(k, []byte(v)); err != nil {
						t.Fatal(err)
					}
					pending[k] = &v
				case 2: // del
					if err := s.del(k); err != nil {
						t.Fatal(err)
					}
					pending[k] = nil
				case 3: // scan from k, committed only
					p, err := s.scan(k, "", 1+int(ops[i+1])%3)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range p.Entries {
						if committed[e.Key] != string(e.Value) || e.Key < k {
							t.Fatalf("scan from %s returned %+v", k, e)
						}
					}
				}
			}
			rw := s.rwset()
			if err := types.ValidateReadWriteSet(rw); err != nil {
				t.Fatal(err)
			}
			var writes []string
			var reads []string
			for _, ns := range rw.NsRwsets {
				for _, w := range ns.Writes {
					writes = append(writes, fmt.Sprintf("%s:%v:%s", w.Key, w.IsDelete, w.Value))
				}
				for _, r := range ns.Reads {
					reads = append(reads, r.Key)
					if _, ok := committed[r.Key]; ok != (r.Version != nil) {
						t.Fatalf("read %s version %v", r.Key, r.Version)
					}
				}
			}
			var wantWrites, wantReads []string
			for _, k := range keys {
				if p, ok := pending[k]; ok {
					if p == nil {
						wantWrites = append(wantWrites, k+":true:")
					} else {
						wantWrites = append(wantWrites, k+":false:"+*p)
					}
				}
				if readFirst[k] {
					wantReads = append(wantReads, k)
				}
			}
			if !reflect.DeepEqual(writes, wantWrites) || !reflect.DeepEqual(reads, wantReads) {
				t.Fatalf("writes %v reads %v, model %v %v", writes, reads, wantWrites, wantReads)
			}
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(rw)
			if err != nil {
				t.Fatal(err)
			}
			return b, log.String()
		}
		b1, l1 := run()
		b2, l2 := run()
		if !bytes.Equal(b1, b2) || l1 != l2 {
			t.Fatal("same operations, different results")
		}
	})
}

func TestEnvDeterminism(t *testing.T) {
	a, b := newEnv(), newEnv()
	buf1, buf2 := make([]byte, 100), make([]byte, 100)
	a.rand.Read(buf1)
	b.rand.Read(buf2[:7])
	b.rand.Read(buf2[7:])
	if !bytes.Equal(buf1, buf2) {
		t.Fatal("random stream depends on read sizes")
	}
	a.beginCall("tx", timeZero)
	b.beginCall("tx", timeZero)
	a.rand.Read(buf1)
	b.rand.Read(buf2)
	if !bytes.Equal(buf1, buf2) {
		t.Fatal("same tx, different stream")
	}
	b.beginCall("tx2", timeZero)
	b.rand.Read(buf2)
	if bytes.Equal(buf1, buf2) {
		t.Fatal("different tx, same stream")
	}
	n1 := a.nanotime()
	a.nanosleep(1000)
	if n2 := a.nanotime(); n2 != n1+1000+monoStep {
		t.Fatalf("virtual clock %d -> %d", n1, n2)
	}
	a.out.Write(bytes.Repeat([]byte("x"), outputKeep+10))
	if s := a.out.String(); !strings.HasSuffix(s, "[... output truncated]") || len(s) < outputKeep {
		t.Fatalf("output %d bytes", len(s))
	}
}

var timeZero = time.Unix(1700000000, 0)
