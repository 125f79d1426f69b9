// Package explorer holds what the explorer's parts share: the records its
// index keeps about the chain and the Store interface the web pages read
// them through. The index (explorer/index) builds a Store from blocks; the
// web application (explorer/web) serves it. Neither knows the other.
package explorer

import (
	"context"
	"errors"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// ErrNotFound: the store holds no such block, transaction or work.
var ErrNotFound = errors.New("not found")

// ErrUnavailable: the store cannot answer because its source (the peers it
// indexes, or its own database) is unreachable; the web pages answer 503.
// Implementations wrap it with the reason.
var ErrUnavailable = errors.New("source unreachable")

// BlockSummary is one block as the index keeps it.
type BlockSummary struct {
	Number       uint64    `json:"number"`
	Hash         string    `json:"hash"` // header hash, lowercase hex
	PreviousHash string    `json:"previous_hash"`
	DataHash     string    `json:"data_hash"`
	StateRoot    string    `json:"state_root"`
	Time         time.Time `json:"time"`    // the orderer-signed timestamp
	Signers      []string  `json:"signers"` // orderer identities that signed the header ("orderer0@OrdererOrg")
	Txs          int       `json:"txs"`
	Valid        int       `json:"valid"`
	// Invalid counts the invalid transactions by validation code name
	// ("MVCC_READ_CONFLICT", "ENDORSEMENT_POLICY_FAILURE", ...).
	Invalid map[string]int `json:"invalid,omitempty"`
	TxIDs   []string       `json:"tx_ids"`
}

// TxSummary is one transaction as the index keeps it.
type TxSummary struct {
	ID             string     `json:"id"`
	Block          uint64     `json:"block"`
	Index          int        `json:"index"`       // position in the block
	Time           time.Time  `json:"time"`        // the client's proposal timestamp
	Creator        string     `json:"creator"`     // "user1@Org1"
	CreatorOrg     string     `json:"creator_org"` // MSP ID
	Contract       string     `json:"contract"`
	Function       string     `json:"function"`
	Args           []string   `json:"args"` // printable (UTF-8 as is, else base64)
	ValidationCode string     `json:"validation_code"`
	Endorsers      []string   `json:"endorsers"`
	Reads          []KeyRead  `json:"reads"`
	Writes         []KeyWrite `json:"writes"`
	Config         bool       `json:"config,omitempty"` // a config transaction
}

// KeyRead is one read of a transaction's read set.
type KeyRead struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	// Version is "block:tx" of the value read, "" when read absent.
	Version string `json:"version"`
}

// KeyWrite is one write of a transaction's write set.
type KeyWrite struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Delete    bool   `json:"delete,omitempty"`
	Value     string `json:"value,omitempty"` // printable, at most 4 KiB (Truncated says so)
	Truncated bool   `json:"truncated,omitempty"`
}

// Work is a copyright work's current record, from the last valid write of
// its key in the copyright contract's namespace.
type Work struct {
	ID           string    `json:"id"`
	Title        string    `json:"title"`
	Author       string    `json:"author"`
	Owner        string    `json:"owner"`
	Type         string    `json:"type"`
	ContentHash  string    `json:"content_hash"`
	Relation     string    `json:"relation,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
	Block        uint64    `json:"block"` // last change
	TxID         string    `json:"tx_id"`
}

// ProvenanceEntry is one valid change of a work: who, what, when, where,
// endorsed by whom.
type ProvenanceEntry struct {
	TxID      string    `json:"tx_id"`
	Block     uint64    `json:"block"`
	Time      time.Time `json:"time"`
	Creator   string    `json:"creator"`
	Action    string    `json:"action"` // register, transfer, ...
	Owner     string    `json:"owner"`
	Endorsers []string  `json:"endorsers"`
}

// WorkQuery selects works; empty fields match everything. Limit 0 means
// the store's default (and it caps any limit).
type WorkQuery struct {
	ID, Owner, Author, ContentHash string
	Limit                          int
	// After continues a listing after this work ID (pagination).
	After string
}

// Rate is one point of a time series: transactions committed in the
// second starting at At (by block time), valid and invalid, and the
// percentiles of their commit latency: the block's orderer timestamp
// minus the transaction's proposal timestamp, in milliseconds (0 in a
// second without transactions that have a proposal timestamp).
type Rate struct {
	At      time.Time `json:"at"`
	Valid   int       `json:"valid"`
	Invalid int       `json:"invalid"`
	P50     float64   `json:"p50_ms"`
	P95     float64   `json:"p95_ms"`
	P99     float64   `json:"p99_ms"`
}

// Latency is the commit latency of the transactions committed over a
// window (by block time): their count and percentiles, in milliseconds.
// Implementations may bucket latencies; they say their precision.
type Latency struct {
	Window time.Duration `json:"window_ns"`
	Count  int           `json:"count"`
	P50    float64       `json:"p50_ms"`
	P95    float64       `json:"p95_ms"`
	P99    float64       `json:"p99_ms"`
	Max    float64       `json:"max_ms"`
}

// Stats is what the dashboard shows of the index.
type Stats struct {
	Height  uint64            `json:"height"` // blocks indexed
	Txs     uint64            `json:"txs"`
	Valid   uint64            `json:"valid"`
	Invalid map[string]uint64 `json:"invalid"` // by validation code name
	ByOrg   map[string]uint64 `json:"by_org"`  // transactions by creator MSP ID
	// OrgInvalid counts invalid transactions by creator MSP ID, then by
	// validation code name (valid per organisation = ByOrg - its sum).
	OrgInvalid  map[string]map[string]uint64 `json:"org_invalid"`
	Works       uint64                       `json:"works"`
	LastBlockAt time.Time                    `json:"last_block_at"`
	IndexedAt   time.Time                    `json:"indexed_at"` // when the last block was indexed (lag = IndexedAt - LastBlockAt)
}

// Store is the explorer's index as the pages read it. Implementations are
// safe for concurrent use.
type Store interface {
	Stats() Stats
	// Rates returns the per-second series over the last window.
	Rates(window time.Duration) []Rate
	// Latency returns the commit latency over the last window.
	Latency(window time.Duration) Latency
	Block(number uint64) (BlockSummary, error)
	BlockByHash(hash string) (BlockSummary, error)
	// Blocks lists up to limit blocks, newest first, numbered below before
	// (0: from the newest).
	Blocks(before uint64, limit int) ([]BlockSummary, error)
	Tx(id string) (TxSummary, error)
	Work(id string) (Work, []ProvenanceEntry, error)
	Works(q WorkQuery) ([]Work, error)
	// Changed is closed when the next block is indexed (live updates).
	Changed() <-chan struct{}
}

// SourceStatus is how a Store's feed of blocks is doing: whether it
// follows its source, and the source's last error.
type SourceStatus struct {
	// Source names where blocks come from (the peer streamed now, when
	// the source says so).
	Source string `json:"source"`
	// Following: the store is streaming from a source and its last
	// attempt has not failed.
	Following bool `json:"following"`
	// LastError is the source's last error ("" once a block arrived after
	// it), LastErrorAt when it happened.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Retries counts failed attempts since the last block arrived.
	Retries int `json:"retries"`
	// Peers is each peer of the source as the source last saw it, when
	// the source reads several.
	Peers []PeerStatus `json:"peers,omitempty"`
}

// PeerStatus is one peer of a block source as the source last saw it.
type PeerStatus struct {
	Name string `json:"name"`
	// State is "streaming" (blocks come from it), "failed" (its last
	// stream failed: LastError says why) or "standby" (not tried since it
	// last worked, or never).
	State       string    `json:"state"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// SourceReporter is optionally implemented by a Store that follows a
// source (the index does): the dashboard shows the status, and a failed
// source makes the pages show a banner and /healthz answer 503.
type SourceReporter interface {
	SourceStatus() SourceStatus
}

// BlockSource gives the indexer the chain: blocks from start on, in
// order, following new ones until ctx ends (a peer's StreamBlocks).
type BlockSource interface {
	Blocks(ctx context.Context, start uint64, each func(*foliov1.Block) error) error
}
