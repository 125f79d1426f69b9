package enclavebench

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/types"
)

// OpenLedger opens (creating) a Pebble ledger in dir as the benchmark's
// Store: blocks are real blocks (one minimal envelope per transaction),
// committed with the ledger's atomic commit (state, history, trie, block).
// Trie pruning is off (ledger.KeepAllRoots): pruning the journals of the
// bulk-loaded blocks takes tens of seconds per prune at a million works,
// a cost of the ledger's (docs/ledger.md measures it) that would land on
// whichever configuration happens to run then.
func OpenLedger(dir string, log *slog.Logger) (Store, error) {
	l, err := ledger.Open(dir, ledger.Options{Logger: log, KeepRoots: ledger.KeepAllRoots})
	if err != nil {
		return nil, err
	}
	s := &ledgerStore{l: l, src: enclave.LedgerSource(l)}
	if h := l.Height(); h > 0 {
		b, err := l.Blocks().Block(h - 1)
		if err != nil {
			l.Close()
			return nil, err
		}
		if s.prev, err = types.HeaderHash(b.Header); err != nil {
			l.Close()
			return nil, err
		}
	}
	return s, nil
}

type ledgerStore struct {
	l    *ledger.Ledger
	src  enclave.StateSource
	prev []byte // header hash of the last block
}

func (s *ledgerStore) NewStateReader() (enclave.StateReader, error) { return s.src.NewStateReader() }

func (s *ledgerStore) Current(ns, key string) (*foliov1.Version, error) {
	_, v, err := s.l.Get(ns, key)
	return v, err
}

func (s *ledgerStore) Close() error { return s.l.Close() }

func (s *ledgerStore) Load(n, perBlock int, key func(int) string, value func(int) []byte) error {
	if s.l.Height() > 0 {
		return errors.New("the ledger is not empty")
	}
	for i := 0; i < n; i += perBlock {
		var ws []enclave.Write
		for j := i; j < min(n, i+perBlock); j++ {
			ws = append(ws, enclave.Write{Namespace: Namespace, Key: key(j), Value: value(j)})
		}
		if _, err := s.CommitBlock([]string{fmt.Sprintf("load-%d", i)}, [][]enclave.Write{ws}); err != nil {
			return err
		}
	}
	return nil
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *ledgerStore) CommitBlock(txIDs []string, txs [][]enclave.Write) (uint64, error) {
	num := s.l.Height()
	ts := epoch.Add(time.Duration(num) * time.Second)
	var envs [][]byte
	var codes []byte
	var u ledger.Updates
	for i, ws := range txs {
		p, err := proto.Marshal(&foliov1.Payload{Header: &foliov1.TxHeader{Type: foliov1.TxType_TX_TYPE_ENDORSER,
			ChannelId: "folio", TxId: txIDs[i], TimestampUnixNano: ts.UnixNano()}})
		if err != nil {
			return 0, err
		}
		env, err := proto.Marshal(&foliov1.Envelope{Payload: p, Signature: []byte("benchmark")})
		if err != nil {
			return 0, err
		}
		envs = append(envs, env)
		codes = append(codes, byte(foliov1.ValidationCode_VALID))
		tx := ledger.TxUpdate{TxNum: uint64(i), TxID: txIDs[i], Timestamp: ts}
		idx := map[string]int{}
		for _, w := range ws {
			j, ok := idx[w.Namespace]
			if !ok {
				j = len(tx.Writes)
				idx[w.Namespace] = j
				tx.Writes = append(tx.Writes, ledger.NsWrites{Namespace: w.Namespace})
			}
			tx.Writes[j].Writes = append(tx.Writes[j].Writes, &foliov1.KVWrite{Key: w.Key, Value: w.Value, IsDelete: w.Delete})
		}
		u.Txs = append(u.Txs, tx)
	}
	prev := s.prev
	if prev == nil {
		prev = types.GenesisPreviousHash()
	}
	b := &foliov1.Block{
		Header:   &foliov1.BlockHeader{Number: num, PreviousHash: prev, DataHash: types.DataHash(envs), TimestampUnixNano: ts.UnixNano()},
		Data:     &foliov1.BlockData{Envelopes: envs},
		Metadata: &foliov1.BlockMetadata{ValidationCodes: codes},
	}
	if _, err := s.l.Commit(b, u); err != nil {
		return 0, err
	}
	h, err := types.HeaderHash(b.Header)
	if err != nil {
		return 0, err
	}
	s.prev = h
	return num, nil
}
