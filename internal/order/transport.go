package order

import (
	"context"
	"log/slog"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
)

// RaftProtocol is the session protocol carrying Raft messages.
const RaftProtocol = "raft"

// peerQueue bounds the Raft messages waiting for one orderer; beyond it
// messages are dropped (Raft retransmits), so a slow or dead orderer never
// blocks the driver.
const peerQueue = 4096

// SessionTransport carries Raft messages over the node-to-node sessions:
// one long-lived stream per other orderer, written by a goroutine owned by
// Run. Incoming streams are accepted only from the orderer whose node ID
// owns the Raft ID the message claims to come from. The set of orderers
// follows the channel's membership (SetPeers).
type SessionTransport struct {
	host *p2p.Host
	node *Node
	log  *slog.Logger

	mu    sync.Mutex
	links map[uint64]*link  // raft ID -> the orderer's queue and writer
	ids   map[string]uint64 // node ID -> raft ID
	ctx   context.Context   // Run's, nil before Run
	wg    sync.WaitGroup
}

// link is one other orderer: its node ID, queue and writer.
type link struct {
	nodeID string
	q      chan *pb.Message
	cancel context.CancelFunc
}

// NewSessionTransport registers the "raft" protocol on host. peers maps
// every other orderer's Raft ID to its node ID. Call SetNode before Run.
func NewSessionTransport(host *p2p.Host, peers map[uint64]string, log *slog.Logger) (*SessionTransport, error) {
	t := &SessionTransport{host: host, log: log, links: map[uint64]*link{}, ids: map[string]uint64{}}
	t.SetPeers(peers)
	if err := host.Handle(RaftProtocol, t.serve); err != nil {
		return nil, err
	}
	return t, nil
}

// SetNode connects the transport to the Raft node it feeds.
func (t *SessionTransport) SetNode(n *Node) { t.node = n }

// SetPeers adds the orderers (Raft ID -> node ID) a new channel
// configuration lists. It never drops one: an orderer the configuration
// removed stays in Raft until the removal commits, which in a cluster of
// two needs its own acknowledgement, and Raft stops addressing it once it
// is out (its writer then idles; a Raft ID is never reused). Safe for
// concurrent use.
func (t *SessionTransport) SetPeers(peers map[uint64]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, nodeID := range peers {
		if l, ok := t.links[id]; ok {
			if l.nodeID == nodeID {
				continue
			}
			// Not possible with IDs derived from keys; replace the link
			// rather than send to the wrong node.
			if l.cancel != nil {
				l.cancel()
			}
			delete(t.ids, l.nodeID)
		}
		l := &link{nodeID: nodeID, q: make(chan *pb.Message, peerQueue)}
		t.links[id] = l
		t.ids[nodeID] = id
		if t.ctx != nil {
			t.startLocked(id, l)
		}
	}
}

func (t *SessionTransport) startLocked(id uint64, l *link) {
	ctx, cancel := context.WithCancel(t.ctx)
	l.cancel = cancel
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.writeLoop(ctx, id, l)
	}()
}

// learn adds a link to an orderer known only by a verified stream (see
// serve) until the configuration lists it.
func (t *SessionTransport) learn(id uint64, nodeID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.links[id]; ok {
		return
	}
	l := &link{nodeID: nodeID, q: make(chan *pb.Message, peerQueue)}
	t.links[id] = l
	t.ids[nodeID] = id
	if t.ctx != nil {
		t.startLocked(id, l)
	}
}

// Send queues messages for their orderers without blocking.
func (t *SessionTransport) Send(msgs []*pb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		l, ok := t.links[m.GetTo()]
		if !ok {
			continue
		}
		select {
		case l.q <- m:
		default:
			if m.GetType() == pb.MessageType_MsgSnap {
				t.node.ReportSnapshot(m.GetTo(), false)
			}
		}
	}
}

// Run writes each orderer's queue to its stream until ctx is done.
func (t *SessionTransport) Run(ctx context.Context) {
	t.mu.Lock()
	t.ctx = ctx
	for id, l := range t.links {
		t.startLocked(id, l)
	}
	t.mu.Unlock()
	<-ctx.Done()
	t.wg.Wait()
}

func (t *SessionTransport) writeLoop(ctx context.Context, id uint64, l *link) {
	nodeID, q := l.nodeID, l.q
	var s *p2p.Stream
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	backoff := 50 * time.Millisecond
	for {
		var m *pb.Message
		select {
		case <-ctx.Done():
			return
		case m = <-q:
		}
		if s != nil {
			select {
			case <-s.Draining():
				// The session is being replaced (a duplicate): move to the
				// surviving one rather than hold this one open.
				s.Close()
				s = nil
			default:
			}
		}
		if s == nil {
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			var err error
			s, err = t.host.OpenStream(octx, nodeID, RaftProtocol)
			cancel()
			if err != nil {
				s = nil
				t.unreachable(id, m)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				if backoff *= 2; backoff > 2*time.Second {
					backoff = 2 * time.Second
				}
				continue
			}
			backoff = 50 * time.Millisecond
		}
		data, err := proto.Marshal(m)
		if err == nil {
			_ = s.SetWriteDeadline(time.Now().Add(5 * time.Second))
			err = s.WriteMsg(data)
		}
		if err != nil {
			t.log.Debug("raft stream failed", "to", id, "err", err)
			s.Close()
			s = nil
			t.unreachable(id, m)
			continue
		}
		if m.GetType() == pb.MessageType_MsgSnap {
			t.node.ReportSnapshot(id, true)
		}
	}
}

func (t *SessionTransport) unreachable(id uint64, m *pb.Message) {
	t.node.ReportUnreachable(id)
	if m.GetType() == pb.MessageType_MsgSnap {
		t.node.ReportSnapshot(id, false)
	}
}

// serve reads Raft messages from another orderer's stream.
func (t *SessionTransport) serve(ctx context.Context, s *p2p.Stream) {
	defer s.Close()
	t.mu.Lock()
	from, ok := t.ids[s.Peer().NodeID]
	t.mu.Unlock()
	derived, derr := channel.RaftIDOf(s.Peer().NodeID)
	if !ok && (derr != nil || s.Peer().Role != identity.RoleOrderer) {
		t.log.Warn("raft stream from a node that is not an orderer of this channel", "node", s.Peer().Name, "node_id", s.Peer().NodeID)
		return
	}
	for {
		data, err := s.ReadMsg()
		if err != nil {
			return
		}
		var m pb.Message
		if err := proto.Unmarshal(data, &m); err != nil {
			t.log.Warn("undecodable raft message; closing stream", "from", s.Peer().Name, "err", err)
			return
		}
		if !ok && m.GetFrom() == derived {
			// An orderer this one's configuration does not list yet (it is
			// still catching up the chain that added it, or this orderer
			// is the newcomer): it may speak only for the Raft ID its own
			// key derives, so it cannot pose as another member. Answers go
			// back to it; Raft decides whether it is a member.
			from, ok = derived, true
			t.learn(derived, s.Peer().NodeID)
		}
		if m.GetFrom() != from {
			t.log.Warn("raft message claims another sender; closing stream", "node", s.Peer().Name, "claims", m.GetFrom(), "is", from)
			return
		}
		if err := t.node.Step(ctx, &m); err != nil {
			return
		}
	}
}
