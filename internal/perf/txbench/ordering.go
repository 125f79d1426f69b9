package txbench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// OrderingOptions configure the ordering benchmark.
type OrderingOptions struct {
	// Network is an existing, running network directory; empty starts a
	// temporary one with Orderers orderers (and one peer) and removes it.
	Network string
	// Exe is the folio binary (to start a temporary network).
	Exe string
	// Orderers of a temporary network. Default 3.
	Orderers int
	// Concurrency is the number of closed-loop clients. Default 64.
	Concurrency int
	// Duration of the measured phase (default 30s), after Warmup (default 5s).
	Duration, Warmup time.Duration
	// EnvelopeBytes is the approximate envelope size. Default 1024.
	EnvelopeBytes int
	// Envelopes is how many envelopes are pre-signed. Default 20000 per
	// 10 s of warm-up plus measurement.
	Envelopes int
	// ProfileOut, when set, receives a CPU profile of the Raft leader taken
	// during the measured phase.
	ProfileOut string
	Progress   io.Writer
}

// OrderingResult is what `folio bench ordering --json` prints.
type OrderingResult struct {
	Orderers       int            `json:"orderers"`
	Concurrency    int            `json:"concurrency"`
	DurationS      float64        `json:"duration_s"`
	EnvelopeBytes  int            `json:"envelope_bytes"`
	Submitted      int            `json:"submitted"`
	Ordered        int            `json:"ordered"`
	Failed         map[string]int `json:"failed"`
	EnvelopesPerS  float64        `json:"envelopes_per_s"`
	LatencyMs      Latency        `json:"latency_ms"`
	Blocks         int            `json:"blocks"`
	AvgBlockTxs    float64        `json:"avg_block_txs"`
	LeaderProfile  string         `json:"leader_profile,omitempty"`
	SubmitToAckMs  Latency        `json:"broadcast_ack_ms"`
	ExhaustedEarly bool           `json:"exhausted_envelopes,omitempty"`
}

// EnsureDefaults fills zero fields with their defaults.
func (o *OrderingOptions) EnsureDefaults() {
	if o.Orderers == 0 {
		o.Orderers = 3
	}
	if o.Concurrency == 0 {
		o.Concurrency = 64
	}
	if o.Duration == 0 {
		o.Duration = 30 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 5 * time.Second
	}
	if o.EnvelopeBytes == 0 {
		o.EnvelopeBytes = 1024
	}
	if o.Envelopes == 0 {
		o.Envelopes = int(20000 * (o.Duration + o.Warmup).Seconds() / 10)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// RunOrdering measures envelopes ordered into blocks delivered at a peer.
func RunOrdering(ctx context.Context, opts OrderingOptions) (*OrderingResult, error) {
	opts.EnsureDefaults()
	dir := opts.Network
	if dir == "" {
		tmp, err := os.MkdirTemp("", "folio-bench-ordering-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "net")
		fmt.Fprintf(opts.Progress, "starting a temporary network: %d orderers, 1 peer\n", opts.Orderers)
		if _, err := localnet.Up(ctx, localnet.UpOptions{Dir: dir, Exe: opts.Exe, Progress: io.Discard,
			Spec: localnet.Spec{Orgs: 1, PeersPerOrg: 1, Orderers: opts.Orderers}}); err != nil {
			return nil, err
		}
		defer localnet.Down(context.Background(), dir, 0, io.Discard)
	}
	n, err := localnet.Load(dir)
	if err != nil {
		return nil, err
	}
	var orgName string
	for _, o := range n.Orgs {
		if o.Kind == "peer" {
			orgName = o.Name
			break
		}
	}
	user, err := wallet.Open(filepath.Join(dir, "wallet")).Load("user1@" + orgName)
	if err != nil {
		return nil, err
	}
	roots, err := localnet.RootPool(dir, n)
	if err != nil {
		return nil, err
	}
	hc := client.HTTPClient(user, roots)
	var orderers []foliov1connect.OrdererServiceClient
	var ordererAPIs, ordererOps []string
	var peer *localnet.Node
	for i := range n.Nodes {
		switch nd := &n.Nodes[i]; nd.Role {
		case "orderer":
			orderers = append(orderers, foliov1connect.NewOrdererServiceClient(hc, "https://"+nd.API))
			ordererAPIs = append(ordererAPIs, nd.API)
			ordererOps = append(ordererOps, nd.Operations)
		case "peer":
			if peer == nil {
				peer = nd
			}
		}
	}
	if len(orderers) == 0 || peer == nil {
		return nil, errors.New("bench ordering: the network needs an orderer and a peer")
	}

	fmt.Fprintf(opts.Progress, "pre-signing %d envelopes of ~%d bytes\n", opts.Envelopes, opts.EnvelopeBytes)
	signer, err := identity.FromCertificate(user.MSPID(), user.Certificate(), user.Key())
	if err != nil {
		return nil, err
	}
	envs, err := presign(signer, n.Channel, opts.Envelopes, opts.EnvelopeBytes)
	if err != nil {
		return nil, err
	}

	chain := foliov1connect.NewChainServiceClient(hc, "https://"+peer.API)
	info, err := chain.GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", peer.Name, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	var mu sync.Mutex
	submitted := map[string]time.Time{} // measured envelopes only
	delivered := map[string]time.Time{}
	var blocks, blockTxs int
	var measureStart, measureEnd time.Time
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		// The call returns once the first block arrives (connect waits for
		// the response headers), so it runs here, beside the clients.
		stream, err := chain.StreamBlocks(runCtx, connect.NewRequest(&foliov1.StreamBlocksRequest{Start: info.Msg.Height, Follow: true}))
		if err != nil {
			return
		}
		defer stream.Close()
		for stream.Receive() {
			now := time.Now()
			b := stream.Msg()
			mu.Lock()
			if !measureStart.IsZero() && now.After(measureStart) && (measureEnd.IsZero() || now.Before(measureEnd.Add(5*time.Second))) {
				blocks++
				blockTxs += len(b.Data.Envelopes)
			}
			for _, raw := range b.Data.Envelopes {
				if id := envelopeTxID(raw); id != "" {
					delivered[id] = now
				}
			}
			mu.Unlock()
		}
	}()

	start := time.Now()
	mu.Lock()
	measureStart = start.Add(opts.Warmup)
	measureEnd = measureStart.Add(opts.Duration)
	mu.Unlock()
	var next atomic.Int64
	var failed sync.Map
	var acks []time.Duration
	var ackMu sync.Mutex
	exhausted := atomic.Bool{}
	var wg sync.WaitGroup
	fmt.Fprintf(opts.Progress, "running %d clients: %s warm-up, %s measured\n", opts.Concurrency, opts.Warmup, opts.Duration)
	var profile []byte
	if opts.ProfileOut != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(opts.Warmup):
			case <-runCtx.Done():
				return
			}
			profile = leaderProfile(runCtx, hc, ordererAPIs, ordererOps, opts.Duration)
		}()
	}
	for c := 0; c < opts.Concurrency; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			o := orderers[c%len(orderers)]
			for {
				now := time.Now()
				if now.After(measureEnd) || runCtx.Err() != nil {
					return
				}
				i := int(next.Add(1)) - 1
				if i >= len(envs) {
					exhausted.Store(true)
					return
				}
				e := envs[i]
				_, err := o.Broadcast(runCtx, connect.NewRequest(e.env))
				done := time.Now()
				if !now.Before(measureStart) {
					if err != nil {
						code := connect.CodeOf(err).String()
						v, _ := failed.LoadOrStore(code, new(atomic.Int64))
						v.(*atomic.Int64).Add(1)
						continue
					}
					mu.Lock()
					submitted[e.txID] = now
					mu.Unlock()
					ackMu.Lock()
					acks = append(acks, done.Sub(now))
					ackMu.Unlock()
				}
			}
		}(c)
	}
	wg.Wait()
	// Let the last blocks arrive (a block timeout plus delivery).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		pending := 0
		for id := range submitted {
			if _, ok := delivered[id]; !ok {
				pending++
			}
		}
		mu.Unlock()
		if pending == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	<-watchDone

	res := &OrderingResult{Orderers: len(orderers), Concurrency: opts.Concurrency, DurationS: opts.Duration.Seconds(), EnvelopeBytes: opts.EnvelopeBytes,
		Failed: map[string]int{}, Blocks: blocks, ExhaustedEarly: exhausted.Load()}
	mu.Lock()
	var lat []time.Duration
	lastDelivery := measureStart
	for id, t0 := range submitted {
		res.Submitted++
		if t1, ok := delivered[id]; ok {
			res.Ordered++
			lat = append(lat, t1.Sub(t0))
			if t1.After(lastDelivery) {
				lastDelivery = t1
			}
		}
	}
	mu.Unlock()
	failed.Range(func(k, v any) bool {
		res.Failed[k.(string)] = int(v.(*atomic.Int64).Load())
		return true
	})
	span := opts.Duration
	if exhausted.Load() && lastDelivery.Sub(measureStart) < span {
		span = lastDelivery.Sub(measureStart)
	}
	if span > 0 {
		res.EnvelopesPerS = float64(res.Ordered) / span.Seconds()
	}
	res.LatencyMs = summarize(lat)
	res.SubmitToAckMs = summarize(acks)
	if blocks > 0 {
		res.AvgBlockTxs = float64(blockTxs) / float64(blocks)
	}
	if opts.ProfileOut != "" && len(profile) > 0 {
		if err := os.WriteFile(opts.ProfileOut, profile, 0o644); err == nil {
			res.LeaderProfile = opts.ProfileOut
		}
	}
	return res, nil
}

type signedEnv struct {
	txID string
	env  *foliov1.Envelope
}

// presign builds envelopes carrying opaque data of about size bytes.
func presign(id *identity.SigningIdentity, channel string, count, size int) ([]signedEnv, error) {
	out := make([]signedEnv, count)
	pad := max(size-len(id.Serialized())-200, 16)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	const workers = 4
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < count; i += workers {
				data := make([]byte, pad)
				_, _ = rand.Read(data)
				h, err := types.NewHeader(id, channel, foliov1.TxType_TX_TYPE_ENDORSER)
				var env *foliov1.Envelope
				if err == nil {
					env, err = types.SignEnvelope(id, &foliov1.Payload{Header: h, Data: data})
				}
				if err != nil {
					firstErr.Store(err)
					return
				}
				out[i] = signedEnv{txID: h.TxId, env: env}
			}
		}(w)
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, err
	}
	return out, nil
}

func envelopeTxID(raw []byte) string {
	var env foliov1.Envelope
	if proto.Unmarshal(raw, &env) != nil {
		return ""
	}
	var p foliov1.Payload
	if proto.Unmarshal(env.Payload, &p) != nil || p.Header == nil {
		return ""
	}
	return p.Header.TxId
}

// leaderProfile finds the Raft leader and fetches a CPU profile from its
// operations listener (ops[i] is that of apis[i]).
func leaderProfile(ctx context.Context, hc *http.Client, apis, ops []string, d time.Duration) []byte {
	secs := max(int(d.Seconds()), 1)
	for i, api := range apis {
		info, err := client.NodeInfo(ctx, hc, api)
		if err != nil || info.RaftRole != "leader" {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(pctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", ops[i], secs), nil)
		if err != nil {
			return nil
		}
		resp, err := localnet.OperationsClient.Do(req)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil
		}
		return b
	}
	return nil
}
