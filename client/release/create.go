package release

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
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

// CreateOptions describe a release.
type CreateOptions struct {
	// Work is the registered work's ID. Required.
	Work string
	// File is the work's file. Required.
	File string
	// ReleaseAt (T) and EndAt (E). Required; now < T < E.
	ReleaseAt, EndAt time.Time
	// Threshold t: shares needed to open the key, 1 to the number of key
	// servers, at least 2 when there are 2 or more. Default: a majority of
	// the key servers (at least 2 when there are 2 or more).
	Threshold int
	// KeyServers names the key server peers. Default: the first peer of
	// every peer organisation, so no single organisation can open the key.
	KeyServers []string
	// TrustedEdges names peers trusted to decrypt early for edge-decrypt
	// clients. Default none.
	TrustedEdges []string
	// ChunkSize is the plaintext bytes per chunk, MinChunkSize to
	// MaxChunkSize. Default 1 MiB.
	ChunkSize int64
	// UploadWorkers is the number of chunks uploaded at once. Default 4.
	UploadWorkers int
	// Progress, if set, is called as the file is encrypted ("encrypt":
	// plaintext bytes read of the file's size) and uploaded ("upload":
	// ciphertext bytes the origin holds of the ciphertext size).
	Progress func(stage string, done, total int64)
	// Resume continues the upload of a release already on chain (an
	// interrupted create of the same file, staged beside it). Without it,
	// a work that already has a release is refused (ErrReleaseExists)
	// with that release's details. ReleaseAt and EndAt may then be zero;
	// given, they must be the release's.
	Resume bool
}

// CreateResult is a recorded and uploaded release.
type CreateResult struct {
	Record rc.Record
	// Resumed: the release was already on chain; only the upload ran.
	Resumed bool
	// Uploaded chunks (of Record.Chunks) in this call.
	Uploaded int64
}

// DefaultThreshold is a majority of n key servers, at least 2 for n >= 2.
func DefaultThreshold(n int) int {
	if n <= 1 {
		return n
	}
	return max(2, n/2+1)
}

// staged is the owner's local copy of the ciphertext until the upload
// completes: <file>.folio-release/{cipher,manifest}.
func stagedDir(file string) string { return file + ".folio-release" }

// Limits of CreateOptions, as the release contract enforces them.
const (
	MinChunkSize  = rc.MinChunkSize
	MaxChunkSize  = rc.MaxChunkSize
	MaxKeyServers = rc.MaxKeyServers
)

// checkThreshold checks threshold t against n key servers as the release
// contract will (rc.Record.Validate), so that Create refuses before it
// encrypts anything rather than after.
func checkThreshold(t, n int) error {
	switch {
	case n < 1 || n > MaxKeyServers:
		return fmt.Errorf("%w: %d key servers: need 1 to %d", ErrBadOption, n, MaxKeyServers)
	case t < 1 || t > n:
		return fmt.Errorf("%w: threshold %d with %d key servers: must be 1 to %d", ErrBadOption, t, n, n)
	case n > 1 && t < 2:
		return fmt.Errorf("%w: threshold 1 with %d key servers would let any one of them open the work alone: must be 2 to %d", ErrBadOption, n, n)
	}
	return nil
}

// Create records a release and uploads its ciphertext (package doc).
// Options are checked first (ErrBadOption), before the file is read.
func (c *Client) Create(ctx context.Context, o CreateOptions) (*CreateResult, error) {
	if o.ChunkSize == 0 {
		o.ChunkSize = content.DefaultChunkSize
	}
	if o.ChunkSize < MinChunkSize || o.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d: must be %d to %d bytes", ErrBadOption, o.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if o.Threshold < 0 || o.Threshold > MaxKeyServers {
		return nil, fmt.Errorf("%w: threshold %d: must be 1 to %d (0: a majority of the key servers)", ErrBadOption, o.Threshold, MaxKeyServers)
	}
	if o.UploadWorkers <= 0 {
		o.UploadWorkers = 4
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	w, err := c.work(ctx, o.Work)
	if err != nil {
		return nil, err
	}
	if w.Owner != c.ID.Label() {
		return nil, fmt.Errorf("%w: work %s is owned by %s; %s may not release it", ErrNotOwner, o.Work, w.Owner, c.ID.Label())
	}
	origin, err := c.home()
	if err != nil {
		return nil, err
	}
	rid := rc.ReleaseID(o.Work, w.Owner)
	// A release already on chain: refused (one release per work and
	// owner; running create again with another file or other times must
	// not look like success), unless resuming its interrupted upload.
	if v, _, err := c.Lookup(ctx, o.Work, w.Owner); err == nil {
		if err := checkResume(&v.Release, o); err != nil {
			return nil, err
		}
		return c.resumeUpload(ctx, &v.Release, o, progress)
	}
	now := c.now()
	switch {
	case !o.ReleaseAt.After(now):
		return nil, fmt.Errorf("%w: release time %s is not in the future (now %s)", ErrBadTime, stamp(o.ReleaseAt), stamp(now))
	case !o.EndAt.After(o.ReleaseAt):
		return nil, fmt.Errorf("%w: end time %s is not after the release time %s", ErrBadTime, stamp(o.EndAt), stamp(o.ReleaseAt))
	}
	// Key servers: certified key-agreement keys, checked here.
	names := o.KeyServers
	if len(names) == 0 {
		seen := map[string]bool{}
		for _, p := range c.Peers {
			if !seen[p.Org] {
				seen[p.Org] = true
				names = append(names, p.Name)
			}
		}
	}
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold(len(names))
	}
	if err := checkThreshold(o.Threshold, len(names)); err != nil {
		return nil, err
	}
	msp, err := c.verifier()
	if err != nil {
		return nil, err
	}
	servers := make([]rc.KeyServer, len(names))
	for i, n := range names {
		p, err := c.peer(n)
		if err != nil {
			return nil, fmt.Errorf("key server: %w", err)
		}
		resp, err := c.api(p).GetKeyServer(ctx, connect.NewRequest(&foliov1.GetKeyServerRequest{}))
		if err != nil {
			return nil, fmt.Errorf("key server %s: %w", n, err)
		}
		ks, err := keys.VerifyKeyServer(keyServerInfo(resp.Msg), msp, p.Name, p.NodeID)
		if err != nil {
			return nil, err
		}
		ks.Index = i + 1
		servers[i] = ks
	}
	for _, e := range o.TrustedEdges {
		if _, err := c.peer(e); err != nil {
			return nil, fmt.Errorf("trusted edge: %w", err)
		}
	}
	// Encrypt into the staging directory while hashing the plaintext.
	f, err := os.Open(o.File)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	dir := stagedDir(o.File)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := keys.NewContentKey()
	if err != nil {
		return nil, err
	}
	defer clear(key)
	cf, err := os.Create(dir + "/cipher")
	if err != nil {
		return nil, err
	}
	res, err := content.Encrypt(&countingReader{r: f, total: fi.Size(), report: func(n int64) { progress("encrypt", n, fi.Size()) }},
		cf, key, rid, fi.Size(), o.ChunkSize)
	if cerr := cf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("encrypt %s: %w", o.File, err)
	}
	if res.PlainHash != w.ContentHash {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %s hashes to %s, work %s is registered with %s", ErrHashMismatch, o.File, res.PlainHash, o.Work, w.ContentHash)
	}
	m := &res.Manifest
	raw, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(dir+"/manifest", raw, 0o600); err != nil {
		return nil, err
	}
	// Shares.
	shares, err := keys.SplitKey(key, len(servers), o.Threshold)
	if err != nil {
		return nil, err
	}
	for i := range servers {
		kexPub, _ := hex.DecodeString(servers[i].KexPub)
		enc, err := keys.EncryptShare(kexPub, rid, servers[i].Index, shares[i])
		if err != nil {
			return nil, err
		}
		servers[i].EncShare = hex.EncodeToString(enc)
		servers[i].ShareCommit = hex.EncodeToString(rc.ShareCommitment(rid, servers[i].Index, shares[i]))
		clear(shares[i])
	}
	edges := o.TrustedEdges
	if edges == nil {
		edges = []string{}
	}
	rec := rc.Record{
		ID: rid, Work: o.Work, Owner: w.Owner, ContentHash: w.ContentHash,
		Size: m.Size, ChunkSize: m.ChunkSize, Chunks: m.Chunks(), CipherSize: m.CipherSize(), ChunkRoot: m.RootHex(),
		ReleaseAt: stamp(o.ReleaseAt), EndAt: stamp(o.EndAt), Threshold: o.Threshold, KeyServers: servers, TrustedEdges: edges,
		Origin: origin.Name, KeyCommit: hex.EncodeToString(rc.KeyCommitment(rid, key)),
	}
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	if _, err := c.Gateway.Submit(ctx, ReleaseContract, rc.FnCreate, [][]byte{mustJSON(rec)}, client.SubmitOptions{}); err != nil {
		return nil, fmt.Errorf("record the release: %w", err)
	}
	v, _, err := c.Lookup(ctx, o.Work, w.Owner)
	if err != nil {
		return nil, err
	}
	r, err := c.resumeUpload(ctx, &v.Release, o, progress)
	if r != nil {
		r.Resumed = false
	}
	return r, err
}

// checkResume refuses to resume release rec unless o asks to resume it,
// with times (if given) that are rec's; the error gives rec's details.
func checkResume(rec *rc.Record, o CreateOptions) error {
	details := fmt.Sprintf("release %s of %s by %s: release at %s, end at %s, %d bytes (%s), %d-of-%d key servers, origin %s, tx %s",
		rec.ID, rec.Work, rec.Owner, rec.ReleaseAt, rec.EndAt, rec.Size, rec.ContentHash, rec.Threshold, len(rec.KeyServers), rec.Origin, rec.TxID)
	if !o.Resume {
		return fmt.Errorf("%w: %s; a work has one release: to finish an interrupted create of this release, run it again with --resume", ErrReleaseExists, details)
	}
	T, E, err := rec.Times()
	if err != nil {
		return err
	}
	if !o.ReleaseAt.IsZero() && !o.ReleaseAt.Equal(T) || !o.EndAt.IsZero() && !o.EndAt.Equal(E) {
		return fmt.Errorf("%w: --resume with release at %s, end at %s, but the release on chain is %s", ErrReleaseExists, stamp(o.ReleaseAt), stamp(o.EndAt), details)
	}
	return nil
}

// resumeUpload uploads the staged ciphertext of a recorded release to its
// origin, skipping the chunks the origin already holds.
func (c *Client) resumeUpload(ctx context.Context, rec *rc.Record, o CreateOptions, progress func(string, int64, int64)) (*CreateResult, error) {
	res := &CreateResult{Record: *rec, Resumed: true}
	origin, err := c.peer(rec.Origin)
	if err != nil {
		return res, err
	}
	api := c.api(origin)
	resp, err := api.GetReleaseStatus(ctx, connect.NewRequest(&foliov1.GetReleaseStatusRequest{ReleaseId: rec.ID}))
	if err != nil {
		return res, peerErr(origin, "release status", err)
	}
	st := resp.Msg
	if st.GetState() == "refused" {
		return res, fmt.Errorf("the origin %s refuses the release: %s", origin.Name, st.GetReason())
	}
	if st.GetChunksTotal() > 0 && st.GetChunksHave() == st.GetChunksTotal() {
		os.RemoveAll(stagedDir(o.File))
		return res, nil
	}
	dir := stagedDir(o.File)
	raw, err := os.ReadFile(dir + "/manifest")
	if err != nil {
		return res, fmt.Errorf("release %s is on chain but its ciphertext is not staged in %s (%v): the upload cannot be resumed", rec.ID, dir, err)
	}
	var m content.Manifest
	if err := m.UnmarshalBinary(raw); err != nil || m.CheckRecord(rec) != nil {
		return res, fmt.Errorf("the staged ciphertext in %s is not release %s's", dir, rec.ID)
	}
	if _, err := api.PutManifest(ctx, connect.NewRequest(&foliov1.PutManifestRequest{ReleaseId: rec.ID, Manifest: raw})); err != nil {
		return res, peerErr(origin, "upload manifest", err)
	}
	cf, err := os.Open(dir + "/cipher")
	if err != nil {
		return res, err
	}
	defer cf.Close()
	// PutChunk is idempotent: the origin verifies every chunk and skips
	// the ones it holds.
	work := make(chan int64)
	var mu sync.Mutex
	var firstErr error
	var done, sent int64 // chunks and their bytes, guarded by mu
	var wg sync.WaitGroup
	for range o.UploadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				buf := make([]byte, m.CipherLen(i))
				_, err := cf.ReadAt(buf, m.Offset(i))
				if err == nil {
					err = peerErr(origin, "upload", putChunk(ctx, api, rec.ID, i, buf))
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("upload chunk %d: %w", i, err)
				}
				if err == nil {
					done++
					sent += int64(len(buf))
					progress("upload", sent, m.CipherSize())
				}
				mu.Unlock()
			}
		}()
	}
	for i := int64(0); i < m.Chunks(); i++ {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	res.Uploaded = done
	if firstErr != nil {
		return res, fmt.Errorf("%w (run the same command again to resume)", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	os.RemoveAll(dir)
	return res, nil
}

// countingReader reports how much was read.
type countingReader struct {
	r      io.Reader
	n      int64
	total  int64
	last   time.Time
	report func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if time.Since(c.last) > 200*time.Millisecond || errors.Is(err, io.EOF) || c.n == c.total {
		c.last = time.Now()
		c.report(c.n)
	}
	return n, err
}

// putChunk uploads chunk i in pieces (a chunk may be larger than one
// message).
func putChunk(ctx context.Context, api foliov1connect.ReleaseServiceClient, rid string, i int64, data []byte) error {
	stream := api.PutChunk(ctx)
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), wire.PieceBytes)
		msg := &foliov1.PutChunkRequest{Data: data[:n]}
		if first {
			msg.ReleaseId, msg.Index = rid, i
		}
		if err := stream.Send(msg); err != nil {
			break // the error is the answer's
		}
		data = data[n:]
	}
	_, err := stream.CloseAndReceive()
	return err
}

// keyServerInfo is a key server's answer in the form keys verifies.
func keyServerInfo(r *foliov1.GetKeyServerResponse) *keys.KeyServerInfo {
	return &keys.KeyServerInfo{Name: r.GetName(), Org: r.GetOrg(), MSPID: r.GetMspId(), NodeID: r.GetNodeId(), NodeCert: r.GetNodeCert(),
		KexPub: hex.EncodeToString(r.GetKexPub()), KexSig: hex.EncodeToString(r.GetKexSig())}
}
