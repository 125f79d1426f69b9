package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/p2p"
)

// Current reads (docs/sdk.md, "Current reads"): an Evaluate may ask for a
// minimum ledger height (EvaluateRequest.min_height), or for a
// linearizable read, for which the peer first learns the ordering
// service's chain height. A peer below the height the read needs waits,
// bounded, for the blocks; if they do not come it answers Unavailable
// ("behind by K blocks"), which clients take as "ask another peer".
//
// Height here is always a ledger height: the number of blocks committed,
// genesis included, so a transaction of block N is visible from N+1 on.

// HeightProtocol is the session protocol on which a node answers the
// height of its block store (ServeChainHeight); a peer asks the orderers
// before a linearizable read, and the peers of its organisation before it
// forwards a read that needs a height.
const HeightProtocol = "chain-height"

// BlockFeed tells when this peer commits a block (commit.Committer). The
// gateway only uses the wake-up: it reads the height from Options.Height.
// Implementations are safe for concurrent use.
type BlockFeed interface {
	// Subscribe delivers committed blocks, after the ledger height
	// includes them, until cancel is called; a subscriber that does not
	// keep up misses blocks (a full buffer of one still wakes it).
	Subscribe(buffer int) (<-chan *commit.Committed, func())
}

// ChainHeightClient asks a node (an orderer, or a peer, whose block store
// commits with its state) the height of its chain. The default, built
// from Options.Host, asks over the node sessions (HeightProtocol).
// Implementations are safe for concurrent use.
type ChainHeightClient interface {
	// ChainHeight returns the number of blocks the node has stored.
	// An error is a *connect.Error, as for OrdererClient.Broadcast.
	ChainHeight(ctx context.Context, node Node) (uint64, error)
}

// ServeChainHeight is the handler of HeightProtocol for a node of channel
// channelID whose block store has height(): any node that holds a
// session may ask, as for the blocks themselves ("deliver"). It holds no
// state and does no I/O but the answer.
func ServeChainHeight(channelID string, height func() uint64) p2p.CallHandler {
	return func(_ context.Context, _ p2p.PeerIdentity, req []byte) []byte {
		reply := &foliov1.ChainHeightReply{}
		var r foliov1.ChainHeightRequest
		switch err := proto.Unmarshal(req, &r); {
		case err != nil:
			reply.Result = &foliov1.ChainHeightReply_Error{Error: &foliov1.CallError{Code: uint32(connect.CodeInvalidArgument), Message: "undecodable chain-height request: " + err.Error()}}
		case r.ChannelId != channelID:
			reply.Result = &foliov1.ChainHeightReply_Error{Error: &foliov1.CallError{Code: uint32(connect.CodeNotFound), Message: fmt.Sprintf("channel %q (this node serves %q)", r.ChannelId, channelID)}}
		default:
			reply.Result = &foliov1.ChainHeightReply_Height{Height: height()}
		}
		out, _ := proto.Marshal(reply)
		return out
	}
}

var _ ChainHeightClient = hostHeights{}

// hostHeights is the ChainHeightClient over the node sessions.
type hostHeights struct {
	host      Host
	channelID string
}

func (c hostHeights) ChainHeight(ctx context.Context, node Node) (uint64, error) {
	req, err := proto.Marshal(&foliov1.ChainHeightRequest{ChannelId: c.channelID})
	if err != nil {
		return 0, connect.NewError(connect.CodeInvalidArgument, err)
	}
	raw, err := c.host.Call(ctx, node.NodeID, HeightProtocol, req)
	if err != nil {
		return 0, callError(ctx, err)
	}
	var reply foliov1.ChainHeightReply
	if err := proto.Unmarshal(raw, &reply); err != nil {
		return 0, connect.NewError(connect.CodeUnavailable, fmt.Errorf("undecodable chain-height reply: %w", err))
	}
	if e := reply.GetError(); e != nil {
		return 0, connect.NewError(connect.Code(e.Code), errors.New(e.Message))
	}
	if _, ok := reply.Result.(*foliov1.ChainHeightReply_Height); !ok {
		return 0, connect.NewError(connect.CodeUnavailable, errors.New("empty chain-height reply"))
	}
	return reply.GetHeight(), nil
}

// BehindError is the answer of a peer whose ledger did not reach the
// height a read needs in time. As a connect error its code is
// CodeUnavailable: another peer may have the blocks.
type BehindError struct {
	Peer   string
	Height uint64 // the peer's ledger height when it gave up
	Need   uint64 // the height the read needs
	Waited time.Duration
	// Why says what ended the wait (the caller's deadline, the
	// limits.max_read_wait bound), or that the peer cannot wait.
	Why string
}

func (e *BehindError) Error() string {
	s := fmt.Sprintf("peer %s is behind: at height %d, the read needs %d (behind by %d blocks)", e.Peer, e.Height, e.Need, e.Need-e.Height)
	if e.Why != "" {
		s += "; " + e.Why
	}
	return s + ": ask another peer, or retry later"
}

// readNeed is the least height a read must see: its minimum and, for a
// linearizable read, the ordering service's chain height.
func (g *Gateway) readNeed(ctx context.Context, req *foliov1.EvaluateRequest) (uint64, error) {
	need := req.GetMinHeight()
	if !req.GetLinearizable() {
		return need, nil
	}
	h, err := g.orderedHeight(ctx)
	if err != nil {
		return 0, err
	}
	return max(need, h), nil
}

// orderedHeight asks the orderers (those with a live session; all of them
// when fewer than a majority have one) for their chain heights at once and
// returns the highest answer. It waits for every orderer asked, each for at
// most MinAttemptTimeout, so that one orderer whose block store lags (a
// Raft follower applying the log) does not hide blocks another has cut,
// and it needs answers from a majority of the channel's orderers: on the
// minority side of a partition, the orderers it reaches may lack blocks
// the majority has cut and other peers have acknowledged (a chaos soak
// caught a linearizable read answered one block behind a read that had
// returned before it, from a peer that reached only one orderer of three).
func (g *Gateway) orderedHeight(ctx context.Context) (uint64, error) {
	orderers := g.ordererList()
	quorum := len(orderers)/2 + 1
	var ask []Node
	for _, o := range orderers {
		if g.o.Sessions.Up(o.NodeID) {
			ask = append(ask, o)
		}
	}
	if len(ask) < quorum {
		ask = orderers
	}
	if len(ask) == 0 {
		return 0, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%s knows no orderer to ask the chain height", g.o.Self.Name))
	}
	ctx, cancel := context.WithTimeout(ctx, g.o.MinAttemptTimeout)
	defer cancel()
	var (
		mu       sync.Mutex
		best     uint64
		answered int
		failures []string
	)
	parallel(ask, func(o Node) {
		h, err := g.o.HeightClient.ChainHeight(ctx, o)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", o.Name, err))
			return
		}
		answered++
		best = max(best, h)
	})
	if answered == 0 {
		return 0, connect.NewError(connect.CodeUnavailable, fmt.Errorf("no orderer told %s the chain height for a linearizable read: %s", g.o.Self.Name, strings.Join(failures, "; ")))
	}
	if answered < quorum {
		sort.Strings(failures)
		return 0, connect.NewError(connect.CodeUnavailable, fmt.Errorf("only %d of %d orderers told %s the chain height; a linearizable read needs a majority (%d), or it could miss blocks the others cut: %s",
			answered, len(orderers), g.o.Self.Name, quorum, strings.Join(failures, "; ")))
	}
	return best, nil
}

// currentPeers asks the chain height of cands at once (each for at most
// MinAttemptTimeout) and keeps, in order, those at need or above; the
// others come back as failed attempts.
func (g *Gateway) currentPeers(ctx context.Context, cands []candidate, need uint64) (keep []candidate, behind []attemptError) {
	ctx, cancel := context.WithTimeout(ctx, g.o.MinAttemptTimeout)
	defer cancel()
	heights := make([]uint64, len(cands))
	errs := make([]error, len(cands))
	took := make([]time.Duration, len(cands))
	idx := make([]int, len(cands))
	for i := range idx {
		idx[i] = i
	}
	parallel(idx, func(i int) {
		t0 := time.Now()
		heights[i], errs[i] = g.o.HeightClient.ChainHeight(ctx, cands[i].node)
		took[i] = time.Since(t0)
	})
	for i, c := range cands {
		switch {
		case errs[i] != nil:
			behind = append(behind, attemptError{node: c.node, err: fmt.Errorf("chain height: %w", errs[i]), took: took[i], late: c.late})
		case heights[i] < need:
			behind = append(behind, attemptError{node: c.node, err: &BehindError{Peer: c.node.Name, Height: heights[i], Need: need}, took: took[i], late: c.late})
		default:
			keep = append(keep, c)
		}
	}
	return keep, behind
}

// errMaxReadWait ends a read's wait at limits.max_read_wait.
var errMaxReadWait = errors.New("max read wait")

// awaitHeight returns this peer's ledger height once it is at least need,
// waiting for blocks to commit until ctx ends or MaxReadWait has passed
// (then a *BehindError, code Unavailable). A read that needs no wait takes
// no slot; the others hold one of the ReadWaiters slots (and of client's
// ReadWaitersPerClient) while they wait, or are refused with
// ResourceExhausted.
func (g *Gateway) awaitHeight(ctx context.Context, client string, need uint64) (uint64, error) {
	if h := g.o.Height(); h >= need {
		return h, nil
	}
	release, setting, err := g.acquireRead(client)
	if err != nil {
		g.o.Refused(setting)
		return 0, connect.NewError(connect.CodeResourceExhausted, err)
	}
	defer release()
	return g.waitHeight(ctx, need)
}

// waitHeight waits, in a slot the caller holds, until the ledger height
// reaches need (see awaitHeight).
func (g *Gateway) waitHeight(ctx context.Context, need uint64) (uint64, error) {
	start := time.Now()
	behind := func(h uint64, why string) error {
		return connect.NewError(connect.CodeUnavailable, &BehindError{Peer: g.o.Self.Name, Height: h, Need: need, Waited: time.Since(start), Why: why})
	}
	if h := g.o.Height(); h >= need {
		return h, nil
	} else if g.o.Blocks == nil {
		return h, behind(h, "this peer cannot wait for blocks")
	}
	// Subscribe before reading the height: a block committed in between
	// still wakes the loop. One buffered wake-up is enough, since the
	// height is read again after it.
	woken, unsubscribe := g.o.Blocks.Subscribe(1)
	defer unsubscribe()
	ctx, cancel := context.WithTimeoutCause(ctx, g.o.MaxReadWait, errMaxReadWait)
	defer cancel()
	for {
		h := g.o.Height()
		if h >= need {
			return h, nil
		}
		select {
		case <-woken:
		case <-ctx.Done():
			h = g.o.Height()
			if h >= need {
				return h, nil
			}
			why := fmt.Sprintf("waited %s, the caller's deadline", roundDuration(time.Since(start)))
			if context.Cause(ctx) == errMaxReadWait {
				g.o.Refused(SettingMaxReadWait)
				why = fmt.Sprintf("waited %s, the most one read may wait (limit %s)", g.o.MaxReadWait, SettingMaxReadWait)
			}
			return h, behind(h, why)
		}
	}
}
