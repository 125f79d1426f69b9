package release

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	rc "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// FetchOptions describe a fetch.
type FetchOptions struct {
	// Work is the work's ID. Required.
	Work string
	// Owner selects the release of a former owner; default the current
	// owner's.
	Owner string
	// Out is the output file. Required. The ciphertext is kept in
	// Out + ".part" until the work is opened (a rerun resumes there).
	Out string
	// EdgeDecrypt receives plaintext from a trusted edge instead of
	// ciphertext and key.
	EdgeDecrypt bool
	// Naive asks the trusted edge for plain delivery at the key send time,
	// without staggering (the comparison run of the fairness experiment).
	Naive bool
	// RateLimitBps caps this client's download rate (bits per second);
	// 0 = none.
	RateLimitBps float64
	// Client names this client when one identity runs several; the
	// client key becomes label/Client. Default: a fresh name per fetch
	// ("fetch-" and 12 random hex digits), so that fetches of one
	// identity never share a subscription. A fetch under a name another
	// running fetch holds at the edge fails with ErrClientNameInUse.
	Client string
	// Edge names the peer to fetch from; default the home peer (for edge
	// decryption: the home peer if it is a trusted edge, else the first
	// trusted edge of the release).
	Edge string
	// Progress is called as ciphertext (or plaintext) arrives.
	Progress func(done, total int64)
	// Waiting, if set, is called while the ciphertext is complete and the
	// key is awaited: once when the wait starts, whenever a key share
	// arrives, and about every two seconds, so that a caller can show a
	// countdown to the release time and what is missing. It runs on the
	// fetch's goroutine and must not block.
	Waiting func(KeyWait)
	// Deadline: give up waiting for the key then. Default: the end time
	// plus one minute.
	Deadline time.Time
	// NoReport skips the access report on chain; NoRelay skips publishing
	// the key servers' signed share statements not yet on chain.
	NoReport, NoRelay bool
	// ChunkRetries is how often a chunk that fails verification is
	// fetched again before giving up. Default 5.
	ChunkRetries int
	// WrapWriter, if set, wraps the file the ciphertext is written to
	// (fault injection in tests).
	WrapWriter func(io.WriterAt) io.WriterAt
	// BeforeDecrypt, if set, is called once the key is open (the access
	// time recorded) and before the ciphertext is decrypted. The fairness
	// experiment, which runs a hundred clients in one process, uses it so
	// that clients decrypting do not take the CPU from clients still
	// receiving their key (on real clients each has its own CPU).
	BeforeDecrypt func(ctx context.Context) error
}

// KeyWait is what a fetch waits for once it holds the ciphertext: enough
// key shares, released by the key servers at the release time.
type KeyWait struct {
	// ReleaseAt is the release time T; Deadline is when the fetch gives up.
	ReleaseAt, Deadline time.Time
	// Shares verified so far, of Threshold needed.
	Shares, Threshold int
	// KeyServers is the number of key servers holding a share.
	KeyServers int
	// Edge is the peer the shares are expected from.
	Edge string
	// Reason is the edge's last status note (e.g. why it waits), if any.
	Reason string
}

// FetchResult is what a fetch observed.
type FetchResult struct {
	Work   string `json:"work"`
	Client string `json:"client"`
	Edge   string `json:"edge"`
	// Times (zero when it did not happen). AccessAt is when the client
	// could read the work: it held the whole verified ciphertext and the
	// key verified against the commitment (ciphertext fetch), or it had
	// received the whole plaintext (edge decryption). DecryptedAt is when
	// the plaintext was written and its hash checked.
	CiphertextCompleteAt time.Time `json:"ciphertext_complete_at"`
	KeyReceivedAt        time.Time `json:"key_received_at"`
	AccessAt             time.Time `json:"access_at"`
	DecryptedAt          time.Time `json:"decrypted_at"`
	SHA256               string    `json:"sha256"`
	Shares               []int     `json:"shares,omitempty"`
	EdgeDecrypt          bool      `json:"edge_decrypt,omitempty"`
	// ResumedBytes of ciphertext were already held from an earlier run.
	ResumedBytes int64 `json:"resumed_bytes,omitempty"`
}

// Fetch gets a released work (package doc). On failure it still reports
// on chain why the work could not be opened (unless NoReport).
func (c *Client) Fetch(ctx context.Context, o FetchOptions) (*FetchResult, error) {
	v, w, err := c.Lookup(ctx, o.Work, o.Owner)
	if err != nil {
		return nil, err
	}
	rec := &v.Release
	if rec.ContentHash != w.ContentHash && o.Owner == "" {
		return nil, fmt.Errorf("%w: release of %s says content %s, the copyright record %s", ErrHashMismatch, o.Work, rec.ContentHash, w.ContentHash)
	}
	_, end, _ := rec.Times()
	if o.Deadline.IsZero() {
		o.Deadline = end.Add(time.Minute)
	}
	if o.ChunkRetries <= 0 {
		o.ChunkRetries = 5
	}
	edge, err := c.chooseEdge(rec, o)
	if err != nil {
		return nil, err
	}
	if o.Client == "" {
		o.Client = "fetch-" + randomHex(6)
	}
	name := c.ID.Label() + "/" + o.Client
	f := &fetch{c: c, o: o, rec: rec, edge: edge, api: c.api(edge), client: name, session: randomHex(8),
		res: &FetchResult{Work: o.Work, Client: name, Edge: edge.Name, EdgeDecrypt: o.EdgeDecrypt}}
	err = f.run(ctx)
	if !o.NoRelay && !o.EdgeDecrypt && !f.c.now().Before(f.releaseAt()) {
		// Whatever happened, the key servers' statements this edge holds
		// go on chain (the audit trail, and the fallback of late clients).
		f.relay(ctx, v.Shares)
	}
	if !o.NoReport {
		f.report(ctx, err)
	}
	return f.res, err
}

func (c *Client) chooseEdge(rec *rc.Record, o FetchOptions) (Peer, error) {
	if o.Edge != "" {
		return c.peer(o.Edge)
	}
	h, err := c.home()
	if err != nil {
		return Peer{}, err
	}
	if !o.EdgeDecrypt || rec.IsTrustedEdge(h.Name) {
		return h, nil
	}
	if len(rec.TrustedEdges) == 0 {
		return Peer{}, fmt.Errorf("release of %s names no trusted edge: edge decryption is not offered; fetch the ciphertext instead", rec.Work)
	}
	return c.peer(rec.TrustedEdges[0])
}

// fetch is one Fetch call's state; its goroutines end before run returns.
type fetch struct {
	c      *Client
	o      FetchOptions
	rec    *rc.Record
	edge   Peer
	api    foliov1connect.ReleaseServiceClient // the edge's
	client string
	// session identifies this fetch to the edge: its reconnects carry it,
	// another fetch under the same name has another.
	session string
	res     *FetchResult

	mu struct {
		sync.Mutex
		bytes, total int64
		complete     bool
		reason       string
	}
}

func (f *fetch) releaseAt() time.Time {
	t, _, _ := f.rec.Times()
	return t
}

// received is a subscription event with its arrival time.
type received struct {
	ev *foliov1.SubscribeResponse
	at time.Time
}

func (f *fetch) run(ctx context.Context) error {
	ctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(context.Canceled) }
	defer cancel()
	err := f.runIn(ctx, cancelCause)
	// A clash of client names ends the fetch with its own error, not the
	// cancellation it caused.
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrClientNameInUse) {
		return cause
	}
	return err
}

func (f *fetch) runIn(ctx context.Context, fail context.CancelCauseFunc) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan received, 64)
	pongs := make(chan int64, 1)
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.subscribe(ctx, events, fail) }()
	go func() { defer wg.Done(); f.reporter(ctx, pongs, kick) }()
	defer wg.Wait()
	defer cancel()
	// Pings are answered by the reporter; other events go on.
	evs := make(chan received, 64)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-events:
				switch e.ev.GetType() {
				case foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_PING:
					select {
					case pongs <- e.ev.GetPingId():
					default:
					}
					continue
				case foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_STATUS:
					f.mu.Lock()
					f.mu.reason = e.ev.GetReason()
					f.mu.Unlock()
				}
				if f.o.EdgeDecrypt {
					continue // shares are for ciphertext clients
				}
				select {
				case evs <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	if f.o.EdgeDecrypt {
		return f.edgeDecrypt(ctx)
	}
	part := f.o.Out + ".part"
	m, err := f.download(ctx, part, kick)
	if err != nil {
		return err
	}
	key, err := f.awaitKey(ctx, evs)
	if err != nil {
		return err
	}
	defer clear(key)
	if f.o.BeforeDecrypt != nil {
		if err := f.o.BeforeDecrypt(ctx); err != nil {
			return err
		}
	}
	return f.decrypt(part, key, m)
}

// subscribe keeps a subscription at the edge open, reconnecting after
// failures, and passes its events on. A clash (another fetch holds the
// client name) ends the fetch through fail: retrying would only wait
// for the other one.
func (f *fetch) subscribe(ctx context.Context, out chan<- received, fail context.CancelCauseFunc) {
	req := &foliov1.SubscribeRequest{ReleaseId: f.rec.ID, Client: f.client, EdgeDecrypt: f.o.EdgeDecrypt, Naive: f.o.Naive, Session: f.session}
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		stream, err := f.api.Subscribe(ctx, connect.NewRequest(req))
		if err == nil {
			for stream.Receive() {
				at := f.c.now()
				ev := stream.Msg()
				if wire.ValidateEvent(ev) != nil {
					continue
				}
				backoff = 200 * time.Millisecond
				select {
				case out <- received{ev: ev, at: at}:
				case <-ctx.Done():
					stream.Close()
					return
				}
			}
			err = stream.Err()
			stream.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue // the edge ended the stream: subscribe again at once
		}
		if connect.CodeOf(err) == connect.CodeAlreadyExists {
			fail(fmt.Errorf("%w: %w", ErrClientNameInUse, peerErr(f.edge, "subscribe", err)))
			return
		}
		status := &foliov1.SubscribeResponse{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_STATUS, Reason: fmt.Sprintf("subscription at %s: %v", f.edge.Name, err)}
		select {
		case out <- received{ev: status, at: f.c.now()}:
		case <-ctx.Done():
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// reporter posts progress (bytes, measured rate, completion) about once a
// second, at once when kicked, and answers pings.
func (f *fetch) reporter(ctx context.Context, pongs <-chan int64, kick <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	type sample struct {
		at    time.Time
		bytes int64
	}
	var window []sample
	var lastSent int64 = -1
	var sentComplete bool
	post := func(pong int64) {
		f.mu.Lock()
		p := &foliov1.ReportProgressRequest{ReleaseId: f.rec.ID, Client: f.client, Bytes: f.mu.bytes, Total: f.mu.total, Complete: f.mu.complete, Pong: pong}
		f.mu.Unlock()
		now := f.c.now()
		window = append(window, sample{now, p.Bytes})
		for len(window) > 1 && now.Sub(window[0].at) > 5*time.Second {
			window = window[1:]
		}
		if len(window) > 1 && !p.Complete {
			a, b := window[0], window[len(window)-1]
			if d := b.at.Sub(a.at).Seconds(); d > 0.5 && b.bytes > a.bytes {
				p.RateBps = float64(b.bytes-a.bytes) * 8 / d
			}
		}
		if pong == 0 && p.Bytes == lastSent && (sentComplete || !p.Complete) {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := f.api.ReportProgress(cctx, connect.NewRequest(p)); err == nil {
			lastSent, sentComplete = p.Bytes, sentComplete || p.Complete
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-pongs:
			post(id)
		case <-kick:
			post(0)
		case <-t.C:
			post(0)
		}
	}
}

func (f *fetch) setProgress(bytes, total int64, complete bool) {
	f.mu.Lock()
	f.mu.bytes, f.mu.total, f.mu.complete = bytes, total, complete
	f.mu.Unlock()
	if f.o.Progress != nil {
		f.o.Progress(bytes, total)
	}
}

// download brings the whole ciphertext into part, verified chunk by
// chunk, resuming after the chunks a previous run kept.
func (f *fetch) download(ctx context.Context, part string, kick chan<- struct{}) (*content.Manifest, error) {
	resp, err := f.api.GetManifest(ctx, connect.NewRequest(&foliov1.GetManifestRequest{ReleaseId: f.rec.ID}))
	if err != nil {
		return nil, peerErr(f.edge, "manifest", err)
	}
	var m content.Manifest
	if err := m.UnmarshalBinary(resp.Msg.GetManifest()); err != nil {
		return nil, err
	}
	if err := m.CheckRecord(f.rec); err != nil {
		return nil, fmt.Errorf("the edge %s sent a manifest that does not match the chain: %w", f.edge.Name, err)
	}
	file, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	// Resume: keep the leading chunks that still verify.
	first := int64(0)
	buf := make([]byte, m.ChunkSize+content.TagSize)
	for ; first < m.Chunks(); first++ {
		c := buf[:m.CipherLen(first)]
		if _, err := file.ReadAt(c, m.Offset(first)); err != nil || m.VerifyChunk(first, c) != nil {
			break
		}
	}
	if first < m.Chunks() {
		if err := file.Truncate(m.Offset(first)); err != nil {
			return nil, err
		}
	}
	f.res.ResumedBytes = m.Offset(first)
	var wa io.WriterAt = file
	if f.o.WrapWriter != nil {
		wa = f.o.WrapWriter(file)
	}
	lim := newLimiter(f.o.RateLimitBps)
	held := m.Offset(first)
	f.setProgress(held, m.CipherSize(), first == m.Chunks())
	for i := first; i < m.Chunks(); i++ {
		var data []byte
		for attempt := 0; ; attempt++ {
			data, err = f.getChunk(ctx, &m, i, lim, held)
			if err == nil {
				err = m.VerifyChunk(i, data)
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !errors.Is(err, content.ErrCorrupt) || attempt >= f.o.ChunkRetries {
				return nil, fmt.Errorf("chunk %d from %s: %w", i, f.edge.Name, err)
			}
			f.c.log().Warn("refused a chunk that does not match the manifest; fetching it again", "chunk", i, "edge", f.edge.Name)
		}
		if _, err := wa.WriteAt(data, m.Offset(i)); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil, fmt.Errorf("disk full writing %s (%d of %d chunks kept): free space and run the same command again to resume: %w", part, i, m.Chunks(), err)
			}
			return nil, fmt.Errorf("write %s: %w", part, err)
		}
		held = m.Offset(i) + int64(len(data))
		f.setProgress(held, m.CipherSize(), i == m.Chunks()-1)
	}
	if err := file.Sync(); err != nil {
		return nil, fmt.Errorf("write %s: %w", part, err)
	}
	f.res.CiphertextCompleteAt = f.c.now()
	f.setProgress(m.CipherSize(), m.CipherSize(), true)
	select {
	case kick <- struct{}{}:
	default:
	}
	return &m, nil
}

// getChunk downloads one chunk, rate-limited, updating progress as its
// pieces arrive.
func (f *fetch) getChunk(ctx context.Context, m *content.Manifest, i int64, lim *limiter, held int64) ([]byte, error) {
	stream, err := f.api.GetChunk(ctx, connect.NewRequest(&foliov1.GetChunkRequest{ReleaseId: f.rec.ID, Index: i}))
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	want := m.CipherLen(i)
	data := make([]byte, 0, want)
	for stream.Receive() {
		piece := stream.Msg().GetData()
		if int64(len(data)+len(piece)) > want {
			return nil, fmt.Errorf("%w: chunk %d is longer than %d bytes", content.ErrCorrupt, i, want)
		}
		if !lim.take(ctx, len(piece)) {
			return nil, ctx.Err()
		}
		data = append(data, piece...)
		f.mu.Lock()
		f.mu.bytes = held + int64(len(data))
		f.mu.Unlock()
		if f.o.Progress != nil {
			f.o.Progress(held+int64(len(data)), m.CipherSize())
		}
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return data, nil
}

// awaitKey collects shares from the subscription (and, after the release
// time, from the edges' and the chain's copies) until threshold shares
// verified against their commitments open a key that matches the key
// commitment.
func (f *fetch) awaitKey(ctx context.Context, evs <-chan received) ([]byte, error) {
	releaseAt, _, _ := f.rec.Times()
	shares := map[int][]byte{}
	var forged []string
	add := func(idx int, share []byte, at time.Time, via string) {
		if _, ok := shares[idx]; ok {
			return
		}
		s := append([]byte(nil), share...)
		err := keys.CheckShare(f.rec, idx, s)
		if err != nil {
			forged = append(forged, fmt.Sprintf("share %d via %s: %v", idx, via, err))
			f.c.log().Warn("refused a share", "index", idx, "via", via, "err", err)
			return
		}
		shares[idx] = s
		if len(shares) == f.rec.Threshold {
			f.res.KeyReceivedAt = at
		}
	}
	waiting := func() {
		if f.o.Waiting == nil || len(shares) >= f.rec.Threshold {
			return
		}
		f.mu.Lock()
		reason := f.mu.reason
		f.mu.Unlock()
		f.o.Waiting(KeyWait{ReleaseAt: releaseAt, Deadline: f.o.Deadline, Shares: len(shares), Threshold: f.rec.Threshold,
			KeyServers: len(f.rec.KeyServers), Edge: f.edge.Name, Reason: reason})
	}
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
	deadline := time.NewTimer(time.Until(f.o.Deadline))
	defer deadline.Stop()
	waiting()
	for len(shares) < f.rec.Threshold {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			f.mu.Lock()
			reason := f.mu.reason
			f.mu.Unlock()
			if reason == "" {
				reason = "no key server released its share in time"
			}
			return nil, fmt.Errorf("%w: %d of %d shares needed arrived by %s: %s%s", ErrNoKey, len(shares), f.rec.Threshold, stamp(f.o.Deadline), reason, forgedNote(forged))
		case e := <-evs:
			if e.ev.GetType() == foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE {
				had := len(shares)
				add(int(e.ev.GetShareIndex()), e.ev.GetShare(), e.at, f.edge.Name)
				if len(shares) > had {
					waiting()
				}
			}
		case <-poll.C:
			waiting()
			// Fallback paths once the release time has passed: every
			// peer's copy and the shares published on chain.
			if f.c.now().Before(releaseAt.Add(2 * time.Second)) {
				continue
			}
			for _, s := range f.fallbackShares(ctx) {
				add(s.index, s.share, f.c.now(), "fallback")
			}
		}
	}
	key, err := keys.OpenKey(f.rec, shares)
	if err != nil {
		return nil, err
	}
	for idx := range shares {
		f.res.Shares = append(f.res.Shares, idx)
	}
	sort.Ints(f.res.Shares)
	f.res.AccessAt = f.c.now()
	return key, nil
}

func forgedNote(forged []string) string {
	if len(forged) == 0 {
		return ""
	}
	return fmt.Sprintf(" (refused: %v)", forged)
}

// fallbackShare is a share from a fallback path, not yet checked.
type fallbackShare struct {
	index int
	share []byte
}

// fallbackShares asks the peers and the chain for released shares, all at
// once: a peer that is down costs its timeout, not everyone's.
func (f *fetch) fallbackShares(ctx context.Context) []fallbackShare {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	var out []fallbackShare
	var wg sync.WaitGroup
	for _, p := range f.c.Peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f.c.peerShares(ctx, p, f.rec.ID)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range v {
				out = append(out, fallbackShare{int(s.GetIndex()), s.GetShare()})
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		raw, err := f.c.Gateway.Evaluate(ctx, ReleaseContract, rc.FnGet, mustJSON(rc.RefArgs{ID: f.rec.ID}))
		if err != nil {
			return
		}
		var v rc.View
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range v.Shares {
			if b, err := hex.DecodeString(s.Share); err == nil {
				out = append(out, fallbackShare{s.Index, b})
			}
		}
	}()
	wg.Wait()
	return out
}

// peerShares asks peer p for the released shares of release rid, with
// their signed statements, checked for form.
func (c *Client) peerShares(ctx context.Context, p Peer, rid string) ([]*foliov1.ReleaseShare, error) {
	resp, err := c.api(p).GetShares(ctx, connect.NewRequest(&foliov1.GetSharesRequest{ReleaseId: rid}))
	if err != nil {
		return nil, peerErr(p, "shares", err)
	}
	if err := wire.ValidateShares(resp.Msg); err != nil {
		return nil, peerErr(p, "shares", err)
	}
	return resp.Msg.GetShares(), nil
}

// decrypt writes the plaintext to Out and checks its hash.
func (f *fetch) decrypt(part string, key []byte, m *content.Manifest) error {
	in, err := os.Open(part)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := f.o.Out + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	sum, err := content.Decrypt(bufio.NewReaderSize(in, 1<<20), out, key, m)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && sum != f.rec.ContentHash {
		err = fmt.Errorf("%w: the plaintext hashes to %s, the work is registered with %s", content.ErrCorrupt, sum, f.rec.ContentHash)
	}
	if err == nil {
		err = os.Rename(tmp, f.o.Out)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("decrypt: %w", err)
	}
	os.Remove(part)
	f.res.SHA256 = sum
	f.res.DecryptedAt = f.c.now()
	return nil
}

// report records the client's times (or why it failed) on chain.
func (f *fetch) report(ctx context.Context, ferr error) {
	a := rc.AccessArgs{Work: f.rec.Work, Owner: f.rec.Owner, Client: f.o.Client, Edge: f.edge.Name, EdgeDecrypt: f.o.EdgeDecrypt,
		CiphertextCompleteAt: stamp(f.res.CiphertextCompleteAt), KeyReceivedAt: stamp(f.res.KeyReceivedAt), AccessAt: stamp(f.res.AccessAt),
		SHA256: f.res.SHA256, Shares: f.res.Shares}
	if ferr != nil {
		msg := ferr.Error()
		if len(msg) > rc.MaxErrorBytes {
			msg = msg[:rc.MaxErrorBytes]
		}
		a.Error = msg
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := f.c.Gateway.Submit(ctx, ReleaseContract, rc.FnReportAccess, [][]byte{mustJSON(a)}, client.SubmitOptions{RetryConflicts: 3}); err != nil {
		f.c.log().Warn("access report not recorded", "err", err)
	}
}

// relay publishes on chain the key servers' signed share statements this
// client's edge holds and the chain does not have yet (docs/release.md:
// endorsers do not take transactions signed by peers, so clients carry
// the key servers' statements).
func (f *fetch) relay(ctx context.Context, published []rc.Published) {
	have := map[int]bool{}
	for _, p := range published {
		have[p.Index] = true
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if raw, err := f.c.Gateway.Evaluate(ctx, ReleaseContract, rc.FnGet, mustJSON(rc.RefArgs{ID: f.rec.ID})); err == nil {
		var v rc.View
		if json.Unmarshal(raw, &v) == nil {
			for _, s := range v.Shares {
				have[s.Index] = true
			}
		}
	}
	held, err := f.c.peerShares(ctx, f.edge, f.rec.ID)
	if err != nil {
		return
	}
	for _, s := range held {
		if have[int(s.GetIndex())] {
			continue
		}
		pa := rc.PublishArgs{Work: f.rec.Work, Owner: f.rec.Owner, Index: int(s.GetIndex()), Share: hex.EncodeToString(s.GetShare()),
			SentAt: s.GetSentAt(), NodeID: s.GetNodeId(), Sig: hex.EncodeToString(s.GetSig())}
		if _, err := f.c.Gateway.Submit(ctx, ReleaseContract, rc.FnPublishShare, [][]byte{mustJSON(pa)}, client.SubmitOptions{}); err != nil && !isConflict(err) {
			var inv *client.InvalidError
			if !errors.As(err, &inv) { // a concurrent publication wins the MVCC race
				f.c.log().Info("share statement not published", "index", s.GetIndex(), "err", err)
			}
		}
	}
}

// limiter paces reads to a rate (bits per second); nil rate = no limit.
type limiter struct {
	rate  float64
	start time.Time
	n     int64
}

func newLimiter(rateBps float64) *limiter {
	if rateBps <= 0 {
		return nil
	}
	return &limiter{rate: rateBps, start: time.Now()}
}

// take accounts for n bytes and waits until they fit the rate.
func (l *limiter) take(ctx context.Context, n int) bool {
	if l == nil {
		return true
	}
	l.n += int64(n)
	due := l.start.Add(time.Duration(float64(l.n*8) / l.rate * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
