package txbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/localnet"
)

// TxOptions configure the transaction benchmark against a running network.
type TxOptions struct {
	// Network is the running network's directory.
	Network string
	// Workload is register, transfer, query or mixed (10% register, 20%
	// transfer, 70% query).
	Workload string
	// Concurrency is the number of closed-loop clients. Default 64.
	Concurrency int
	// Duration (default 30s) is measured after Warmup (default 10s).
	Duration, Warmup time.Duration
	// Works is how many works each client pre-registers for transfer and
	// query workloads (not timed). Default 4.
	Works    int
	Progress io.Writer
}

// TxResult is what `folio bench --json` prints.
type TxResult struct {
	Workload    string         `json:"workload"`
	Concurrency int            `json:"concurrency"`
	DurationS   float64        `json:"duration_s"`
	Committed   int            `json:"committed"`
	Failed      int            `json:"failed"`
	FailedBy    map[string]int `json:"failed_by_code"`
	TPS         float64        `json:"tps"`
	LatencyMs   Latency        `json:"latency_ms"`
	Peers       []string       `json:"peers"`
}

type benchClient struct {
	gw map[string]*client.Gateway // by owner label
}

// RunTx drives the workload through the gateways of every peer (clients are
// spread over them) as user1 of each peer organisation.
func RunTx(ctx context.Context, o TxOptions) (*TxResult, error) {
	if o.Concurrency == 0 {
		o.Concurrency = 64
	}
	if o.Duration == 0 {
		o.Duration = 30 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 10 * time.Second
	}
	if o.Works == 0 {
		o.Works = 4
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	switch o.Workload {
	case "register", "transfer", "query", "mixed":
	default:
		return nil, fmt.Errorf("--workload %q: want register, transfer, query or mixed", o.Workload)
	}
	n, err := localnet.Load(o.Network)
	if err != nil {
		return nil, err
	}
	roots, err := localnet.RootPool(o.Network, n)
	if err != nil {
		return nil, err
	}
	w := wallet.Open(filepath.Join(o.Network, "wallet"))
	var users []string
	for _, org := range n.Orgs {
		if org.Kind == "peer" {
			users = append(users, "user1@"+org.Name)
		}
	}
	if len(users) < 2 {
		return nil, errors.New("bench: the workloads need two peer organisations (transfers go back and forth)")
	}
	var peers []localnet.Node
	for _, nd := range n.Nodes {
		if nd.Role == "peer" {
			peers = append(peers, nd)
		}
	}
	res := &TxResult{Workload: o.Workload, Concurrency: o.Concurrency, DurationS: o.Duration.Seconds(), FailedBy: map[string]int{}}
	clients := make([]benchClient, o.Concurrency)
	for i := range clients {
		// Each client prefers one peer (spreading the load) and fails over
		// to the others when it is unreachable, as users' clients do.
		var eps []client.Endpoint
		for k := range peers {
			p := peers[(i+k)%len(peers)]
			eps = append(eps, client.Endpoint{Name: p.Name, Addr: p.API})
		}
		clients[i].gw = map[string]*client.Gateway{}
		for _, u := range users {
			id, err := w.Load(u)
			if err != nil {
				return nil, err
			}
			hc := client.HTTPClient(id, roots)
			gw, err := client.NewGatewayWithOptions(hc, id, client.GatewayOptions{Channel: n.Channel, Endpoints: eps})
			if err != nil {
				return nil, err
			}
			clients[i].gw[u] = gw
		}
	}
	for _, p := range peers {
		res.Peers = append(res.Peers, p.Name)
	}
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	tag := hex.EncodeToString(run)

	// Works owned by each client, registered before the clock starts.
	owned := make([][]work, o.Concurrency)
	if o.Workload != "register" {
		fmt.Fprintf(o.Progress, "registering %d works per client for the %s workload\n", o.Works, o.Workload)
		var wg sync.WaitGroup
		var setupErr atomic.Value
		for c := range clients {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for k := 0; k < o.Works; k++ {
					id := fmt.Sprintf("bench-%s-%d-%d", tag, c, k)
					if err := register(ctx, clients[c].gw[users[0]], id, users[0]); err != nil {
						setupErr.Store(err)
						return
					}
					owned[c] = append(owned[c], work{id: id, owner: users[0]})
				}
			}(c)
		}
		wg.Wait()
		if err, ok := setupErr.Load().(error); ok {
			return nil, fmt.Errorf("bench setup: %w", err)
		}
	}

	start := time.Now()
	measureFrom, measureTo := start.Add(o.Warmup), start.Add(o.Warmup+o.Duration)
	fmt.Fprintf(o.Progress, "%s workload: %d clients over %d peers, %s warm-up, %s measured\n", o.Workload, o.Concurrency, len(peers), o.Warmup, o.Duration)
	var mu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(c), uint64(start.UnixNano())))
			seq := 0
			for {
				t0 := time.Now()
				if t0.After(measureTo) || ctx.Err() != nil {
					return
				}
				op := o.Workload
				if op == "mixed" {
					switch r := rng.IntN(10); {
					case r == 0:
						op = "register"
					case r < 3:
						op = "transfer"
					default:
						op = "query"
					}
				}
				var err error
				switch op {
				case "register":
					seq++
					id := fmt.Sprintf("bench-%s-%d-r%d", tag, c, seq)
					err = register(ctx, clients[c].gw[users[0]], id, users[0])
					if err == nil && len(owned[c]) < 64 {
						owned[c] = append(owned[c], work{id: id, owner: users[0]})
					}
				case "transfer":
					if len(owned[c]) == 0 {
						continue
					}
					k := rng.IntN(len(owned[c]))
					wk := &owned[c][k]
					to := users[0]
					if wk.owner == users[0] {
						to = users[1]
					}
					_, err = clients[c].gw[wk.owner].Submit(ctx, "copyright", "transfer", jsonArgs(map[string]string{"id": wk.id, "to": to}), client.SubmitOptions{})
					if err == nil {
						wk.owner = to
					}
				case "query":
					if len(owned[c]) == 0 {
						continue
					}
					_, err = clients[c].gw[users[rng.IntN(len(users))]].Evaluate(ctx, "copyright", "get", jsonArgs(map[string]string{"id": owned[c][rng.IntN(len(owned[c]))].id})...)
				}
				t1 := time.Now()
				if t0.Before(measureFrom) || t1.After(measureTo.Add(30*time.Second)) {
					continue
				}
				mu.Lock()
				if err != nil {
					res.Failed++
					res.FailedBy[failureCode(err)]++
				} else {
					res.Committed++
					lats = append(lats, t1.Sub(t0))
				}
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	res.TPS = math.Round(float64(res.Committed)/o.Duration.Seconds()*10) / 10
	res.LatencyMs = summarize(lats)
	return res, nil
}

type work struct{ id, owner string }

func register(ctx context.Context, gw *client.Gateway, id, owner string) error {
	h := make([]byte, 32)
	_, _ = rand.Read(h)
	_, err := gw.Submit(ctx, "copyright", "register", jsonArgs(map[string]string{"id": id, "title": "Bench work " + id,
		"author": "Bench Author", "owner": owner, "type": "audio", "content_hash": "sha256:" + hex.EncodeToString(h)}), client.SubmitOptions{})
	return err
}

func jsonArgs(v any) [][]byte {
	b, _ := json.Marshal(v)
	return [][]byte{b}
}

// failureCode names a failure: the validation code of an invalid
// transaction, else the RPC code.
func failureCode(err error) string {
	var inv *client.InvalidError
	if errors.As(err, &inv) {
		return inv.Result.Code.String()
	}
	return connect.CodeOf(err).String()
}
