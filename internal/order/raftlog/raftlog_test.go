package raftlog

import (
	"errors"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
)

func ent(term, index uint64, data string) *pb.Entry {
	return &pb.Entry{Term: proto.Uint64(term), Index: proto.Uint64(index), Type: pb.EntryType_EntryNormal.Enum(), Data: []byte(data)}
}

func open(t *testing.T, dir string) (*pebblekv.Store, *Log) {
	t.Helper()
	db, err := pebblekv.Open(dir, pebblekv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(db)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db, l
}

func TestSaveReopenReplaceCompact(t *testing.T) {
	dir := t.TempDir()
	db, l := open(t, dir)
	hs := &pb.HardState{Term: proto.Uint64(2), Vote: proto.Uint64(1), Commit: proto.Uint64(3)}
	if err := l.Save(hs, []*pb.Entry{ent(1, 1, "a"), ent(1, 2, "b"), ent(2, 3, "c"), ent(2, 4, "d")}, nil); err != nil {
		t.Fatal(err)
	}
	// A new leader overwrites the uncommitted suffix from index 4.
	if err := l.Save(nil, []*pb.Entry{ent(3, 4, "D"), ent(3, 5, "E")}, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, l = open(t, dir)
	got, err := l.Storage().Entries(1, 6, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "c", "D", "E"}
	if len(got) != len(want) {
		t.Fatalf("%d entries after reopen", len(got))
	}
	for i, e := range got {
		if string(e.Data) != want[i] {
			t.Fatalf("entry %d = %q, want %q", i+1, e.Data, want[i])
		}
	}
	st, _, _ := l.Storage().InitialState()
	if st.GetTerm() != 2 || st.GetCommit() != 3 || st.GetVote() != 1 {
		t.Fatalf("hard state %v", st)
	}
	if err := l.Compact(3, &pb.ConfState{Voters: []uint64{1, 2, 3}}, []byte("state@3")); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, l = open(t, dir)
	defer db.Close()
	if fi, _ := l.Storage().FirstIndex(); fi != 4 {
		t.Fatalf("first index %d after compaction, want 4", fi)
	}
	snap, _ := l.Storage().Snapshot()
	if string(snap.Data) != "state@3" || snap.GetMetadata().GetIndex() != 3 {
		t.Fatalf("snapshot %v", snap.GetMetadata())
	}
	if last, _ := l.Storage().LastIndex(); last != 5 {
		t.Fatalf("last index %d", last)
	}
}

func TestCorruptEntryDetectedAtOpen(t *testing.T) {
	dir := t.TempDir()
	db, l := open(t, dir)
	if err := l.Save(nil, []*pb.Entry{ent(1, 1, "a"), ent(1, 2, "b"), ent(1, 3, "c")}, nil); err != nil {
		t.Fatal(err)
	}
	v, _ := db.Get(entryKey(2))
	v[len(v)-1] ^= 0x40
	b := db.NewBatch()
	_ = b.Set(entryKey(2), v)
	_ = b.Commit(kv.WriteOptions{Sync: true})
	_, err := Open(db)
	if !errors.Is(err, kv.ErrCorruption) || !contains(err.Error(), "entry 2") {
		t.Fatalf("bit flip in entry 2: %v", err)
	}
	// A hole in the log is corruption too.
	b = db.NewBatch()
	_ = b.Delete(entryKey(2))
	_ = b.Commit(kv.WriteOptions{Sync: true})
	if _, err := Open(db); !errors.Is(err, kv.ErrCorruption) || !contains(err.Error(), "entry 2 missing") {
		t.Fatalf("missing entry 2: %v", err)
	}
	db.Close()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
