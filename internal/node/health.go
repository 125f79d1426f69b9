package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/evidence"
	"github.com/folio-ledger/folio/internal/identity"
)

// HealthFile is the file in a peer's data directory that records a health
// other than ok (JSON, healthRecord), so that a restart does not forget
// it: a diverged peer stays diverged, a peer that saw an equivocation
// stays stopped. Rebuilding the peer's ledger (`folio peer rebuild`)
// moves it aside with the ledger.
const HealthFile = "health.json"

// LedgerDir is the directory in a peer's data directory that holds its
// ledger (blocks, state, history, trie nodes: one Pebble store). The other
// entries of the data directory (installed contracts, the timed-release
// store and key, the compile cache) are not derived from the chain.
const LedgerDir = "db"

// healthRecord is the content of HealthFile.
type healthRecord struct {
	evidence.Health
	Peer  string    `json:"peer"`
	Since time.Time `json:"since"`
}

// peerHealth is a peer's health as its state-root exchange judges it
// (evidence.NextHealth), and what the peer does about it: the endorser
// asks healthy before it simulates anything (a peer that is not ok
// refuses), the deliver client's sink is gated (a peer that saw an
// equivocation commits no further block), NodeInfo reports it (health,
// health_detail), HealthFile keeps it across restarts. Safe for concurrent
// use.
type peerHealth struct {
	name string
	file string
	log  *slog.Logger

	mu sync.Mutex
	h  evidence.Health
	// halted is closed once the health is equivocation.
	halted chan struct{}
}

// newPeerHealth loads the peer's persisted health and makes it the one
// NodeInfo reports.
func newPeerHealth(e *env) (*peerHealth, error) {
	p := &peerHealth{name: e.cfg.Name, file: filepath.Join(e.cfg.DataDir, HealthFile), log: e.log.With("component", "health"),
		halted: make(chan struct{})}
	rec, err := loadHealth(p.file)
	if err != nil {
		return nil, fieldErr(e.file, "data_dir", err, "the file records why the peer stopped: read it, then rebuild the peer with `folio peer rebuild --peer "+e.cfg.Name+"`")
	}
	p.h = rec.Health
	switch p.h.State {
	case evidence.HealthEquivocation:
		close(p.halted)
		p.log.Error("ALARM: this peer saw two different orderer-signed blocks for one height and stays stopped: it neither commits nor endorses",
			"since", rec.Since, "block", p.h.Block, "detail", p.h.Detail, "file", p.file)
	case evidence.HealthDiverged:
		p.log.Error("this peer's state diverged from the other peers' and it stays stopped from endorsing until rebuilt",
			"since", rec.Since, "block", p.h.Block, "detail", p.h.Detail, "rebuild", "folio peer rebuild --peer "+p.name, "file", p.file)
	}
	e.peerHealth = p
	return p, nil
}

// loadHealth reads HealthFile; a missing file is ok.
func loadHealth(file string) (healthRecord, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return healthRecord{Health: evidence.Health{State: evidence.HealthOK}}, nil
	}
	if err != nil {
		return healthRecord{}, err
	}
	var rec healthRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return healthRecord{}, fmt.Errorf("%s: %w", file, err)
	}
	switch rec.State {
	case evidence.HealthOK, evidence.HealthDiverged, evidence.HealthEquivocation:
	default:
		return healthRecord{}, fmt.Errorf("%s: unknown health state %q", file, rec.State)
	}
	return rec, nil
}

// initial is the health to start the exchange with.
func (p *peerHealth) initial() evidence.Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h
}

// set takes a new health from the exchange (evidence.Options.OnHealth):
// it persists it first, then acts on it.
func (p *peerHealth) set(h evidence.Health) {
	data, err := json.MarshalIndent(healthRecord{Health: h, Peer: p.name, Since: time.Now().UTC()}, "", "  ")
	if err == nil {
		err = atomicfile.WriteFile(p.file, append(data, '\n'), 0o600)
	}
	if err != nil {
		p.log.Error("could not record the peer's health; it applies until the peer stops", "file", p.file, "err", err)
	}
	p.mu.Lock()
	p.h = h
	p.mu.Unlock()
	switch h.State {
	case evidence.HealthDiverged:
		p.log.Error("this peer stopped endorsing: its state root differs from every other peer's signed root; rebuild it from the chain",
			"block", h.Block, "detail", h.Detail, "rebuild", "folio peer rebuild --peer "+p.name)
	case evidence.HealthEquivocation:
		select {
		case <-p.halted:
		default:
			close(p.halted)
		}
		p.log.Error("ALARM: this peer stopped committing and endorsing: two different orderer-signed blocks exist for one height (orderer equivocation); the consortium must decide which chain stands",
			"block", h.Block, "detail", h.Detail)
	}
}

// healthy is the endorser's gate (endorse.Options.Healthy): nil while the
// peer is ok, else why it refuses.
func (p *peerHealth) healthy() error {
	p.mu.Lock()
	h := p.h
	p.mu.Unlock()
	switch h.State {
	case evidence.HealthDiverged:
		return fmt.Errorf("%s stopped endorsing: its state root at block %d differs from every other peer's signed root; rebuild it with `folio peer rebuild --peer %s`",
			p.name, h.Block, p.name)
	case evidence.HealthEquivocation:
		return fmt.Errorf("%s stopped endorsing and committing: two different orderer-signed blocks exist for block %d (orderer equivocation: %s)", p.name, h.Block, h.Detail)
	}
	return nil
}

// status is NodeInfo's health and health_detail.
func (p *peerHealth) status() (string, string) {
	p.mu.Lock()
	h := p.h
	p.mu.Unlock()
	switch h.State {
	case evidence.HealthDiverged:
		return h.State, fmt.Sprintf("%s; it stopped endorsing: rebuild it with `folio peer rebuild --peer %s`", h.Detail, p.name)
	case evidence.HealthEquivocation:
		return h.State, h.Detail + "; it stopped committing and endorsing"
	}
	return evidence.HealthOK, ""
}

// health is NodeInfo's health and health_detail of the node: empty on
// orderers.
func (e *env) health() (string, string) {
	if e.peerHealth != nil {
		return e.peerHealth.status()
	}
	return "", ""
}

// blockSigner says whether an identity's block signature counts, by the
// channel configuration in force (evidence.Options.BlockSigner): the
// block another peer shows as proof of an equivocation is judged as block
// delivery judges blocks.
func blockSigner(e *env) func(*identity.Identity) error {
	return func(id *identity.Identity) error { return e.config.Current().CheckBlockSigner(id) }
}

// gate wraps the committer as the deliver client's sink: once the peer
// saw an equivocation it accepts no further block. Accept then logs an
// alarm and blocks until ctx ends (the deliver client stays on its stream
// and asks for nothing more; the node shuts down normally).
func (p *peerHealth) gate(ctx context.Context, s deliver.Sink) deliver.Sink {
	return &gatedSink{Sink: s, p: p, done: ctx.Done()}
}

type gatedSink struct {
	deliver.Sink
	p    *peerHealth
	done <-chan struct{}
	once sync.Once
}

func (g *gatedSink) Accept(b *foliov1.Block) error {
	select {
	case <-g.p.halted:
	default:
		return g.Sink.Accept(b)
	}
	g.once.Do(func() {
		g.p.log.Error("ALARM: not committing block: this peer saw two different orderer-signed blocks for one height and stopped committing",
			"block", b.GetHeader().GetNumber(), "detail", g.p.initial().Detail)
	})
	<-g.done
	return fmt.Errorf("%s stopped committing at block %d: orderer equivocation", g.p.name, b.GetHeader().GetNumber())
}
