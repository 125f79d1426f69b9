// Package raftlog is the durable Raft log of an orderer: hard state, log
// entries and the latest snapshot, persisted in the orderer's kv.Store
// (Pebble) and mirrored in a raft.MemoryStorage that the Raft library
// reads.
//
// Fsync discipline: Save writes the Ready's snapshot, entries and hard state
// in one batch committed with Sync, and only then updates the in-memory
// mirror; the caller sends Raft messages only after Save returns. So a
// message that promises an entry (a vote, an append acknowledgement) is
// never sent before the promise is on disk, which is what Raft requires to
// stay safe across power loss.
//
// Layout (numbers 8-byte big-endian):
//
//	raft/hs            HardState (protobuf)
//	raft/snap          latest Snapshot (protobuf)
//	raft/e/<index>     CRC-32C (4 bytes, big-endian) || Entry (protobuf)
//
// Open checks every entry's checksum and that indexes are contiguous from
// the snapshot on; damage is kv.ErrCorruption naming the index.
package raftlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ledger/folio/internal/kv"
)

var (
	keyHardState = []byte("raft/hs")
	keySnapshot  = []byte("raft/snap")
	prefixEntry  = []byte("raft/e/")
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
)

// Log is a persisted Raft log. Not safe for concurrent writers: the Raft
// driver goroutine calls Save and Compact; the Raft library reads Storage.
type Log struct {
	db  kv.Store
	mem *raft.MemoryStorage
}

// Open loads the log from db. A new store yields an empty log.
func Open(db kv.Store) (*Log, error) {
	l := &Log{db: db, mem: raft.NewMemoryStorage()}
	if data, err := db.Get(keySnapshot); err == nil {
		var snap pb.Snapshot
		if err := proto.Unmarshal(data, &snap); err != nil {
			return nil, corrupt("snapshot does not decode: %v", err)
		}
		if err := l.mem.ApplySnapshot(&snap); err != nil {
			return nil, fmt.Errorf("raftlog: load snapshot: %w", err)
		}
	} else if !errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	if data, err := db.Get(keyHardState); err == nil {
		var hs pb.HardState
		if err := proto.Unmarshal(data, &hs); err != nil {
			return nil, corrupt("hard state does not decode: %v", err)
		}
		if err := l.mem.SetHardState(&hs); err != nil {
			return nil, fmt.Errorf("raftlog: %w", err)
		}
	} else if !errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	first, _ := l.mem.FirstIndex()
	it, err := db.NewIter(&kv.IterOptions{Lower: entryKey(first), Upper: kv.PrefixEnd(prefixEntry)})
	if err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	defer it.Close()
	var ents []*pb.Entry
	want := first
	for ok := it.First(); ok; ok = it.Next() {
		idx := binary.BigEndian.Uint64(it.Key()[len(prefixEntry):])
		if idx != want {
			return nil, corrupt("entry %d missing (found entry %d)", want, idx)
		}
		e, err := decodeEntry(it.Value())
		if err != nil {
			return nil, corrupt("entry %d: %v", idx, err)
		}
		if e.GetIndex() != idx {
			return nil, corrupt("entry stored at index %d says index %d", idx, e.GetIndex())
		}
		ents = append(ents, e)
		want++
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	if len(ents) > 0 {
		if err := l.mem.Append(ents); err != nil {
			return nil, fmt.Errorf("raftlog: load entries: %w", err)
		}
	}
	return l, nil
}

// Storage is what raft.Config.Storage needs.
func (l *Log) Storage() *raft.MemoryStorage { return l.mem }

// Save persists a Ready's snapshot, entries and hard state durably, then
// mirrors them in memory. New entries replace any stored entries from their
// first index on (a follower's conflicting suffix).
func (l *Log) Save(hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot) error {
	batch := l.db.NewBatch()
	defer batch.Close()
	if snap != nil && !raft.IsEmptySnap(snap) {
		data, err := proto.Marshal(snap)
		if err != nil {
			return err
		}
		if err := batch.Set(keySnapshot, data); err != nil {
			return err
		}
		// Entries up to the snapshot are covered by it.
		if err := batch.DeleteRange(prefixEntry, entryKey(snap.GetMetadata().GetIndex()+1)); err != nil {
			return err
		}
	}
	if len(ents) > 0 {
		// A follower overwriting a conflicting suffix must drop the old
		// entries past the new ones. Point deletes over the range known in
		// memory, never a range tombstone: appends happen on every Ready,
		// and range tombstones make every later point read slower.
		last, _ := l.mem.LastIndex()
		for i := ents[len(ents)-1].GetIndex() + 1; i <= last; i++ {
			if err := batch.Delete(entryKey(i)); err != nil {
				return err
			}
		}
		for _, e := range ents {
			data, err := encodeEntry(e)
			if err != nil {
				return err
			}
			if err := batch.Set(entryKey(e.GetIndex()), data); err != nil {
				return err
			}
		}
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		data, err := proto.Marshal(hs)
		if err != nil {
			return err
		}
		if err := batch.Set(keyHardState, data); err != nil {
			return err
		}
	}
	if batch.Len() == 0 {
		return nil
	}
	if err := batch.Commit(kv.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("raftlog: save: %w", err)
	}
	if snap != nil && !raft.IsEmptySnap(snap) {
		if err := l.mem.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("raftlog: apply snapshot: %w", err)
		}
	}
	if len(ents) > 0 {
		if err := l.mem.Append(ents); err != nil {
			return fmt.Errorf("raftlog: append: %w", err)
		}
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		if err := l.mem.SetHardState(hs); err != nil {
			return err
		}
	}
	return nil
}

// Compact records a snapshot of the state machine at index (data describes
// it) and drops the entries it covers, in memory and on disk.
func (l *Log) Compact(index uint64, cs *pb.ConfState, data []byte) error {
	snap, err := l.mem.CreateSnapshot(index, cs, data)
	if err != nil {
		return fmt.Errorf("raftlog: snapshot at %d: %w", index, err)
	}
	raw, err := proto.Marshal(snap)
	if err != nil {
		return err
	}
	batch := l.db.NewBatch()
	defer batch.Close()
	if err := batch.Set(keySnapshot, raw); err != nil {
		return err
	}
	if err := batch.DeleteRange(prefixEntry, entryKey(index+1)); err != nil {
		return err
	}
	if err := batch.Commit(kv.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("raftlog: compact: %w", err)
	}
	return l.mem.Compact(index)
}

func entryKey(index uint64) []byte { return kv.AppendUint64(bytes.Clone(prefixEntry), index) }

func encodeEntry(e *pb.Entry) ([]byte, error) {
	data, err := proto.Marshal(e)
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(data)), crc32.Checksum(data, castagnoli))
	return append(out, data...), nil
}

func decodeEntry(v []byte) (*pb.Entry, error) {
	if len(v) < 4 {
		return nil, fmt.Errorf("record of %d bytes", len(v))
	}
	if crc32.Checksum(v[4:], castagnoli) != binary.BigEndian.Uint32(v) {
		return nil, errors.New("checksum mismatch")
	}
	var e pb.Entry
	if err := proto.Unmarshal(v[4:], &e); err != nil {
		return nil, err
	}
	return &e, nil
}

func corrupt(format string, args ...any) error {
	return &kv.CorruptionError{Op: "raft log open", Err: fmt.Errorf(format, args...)}
}
