package order

import (
	"context"
	"log/slog"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

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
// owns the Raft ID the message claims to come from.
type SessionTransport struct {
	host  *p2p.Host
	node  *Node
	peers map[uint64]string // raft ID -> node ID
	ids   map[string]uint64 // node ID -> raft ID
	log   *slog.Logger

	mu     sync.Mutex
	queues map[uint64]chan *pb.Message
}

// NewSessionTransport registers the "raft" protocol on host. peers maps
// every other orderer's Raft ID to its node ID. Call SetNode before Run.
func NewSessionTransport(host *p2p.Host, peers map[uint64]string, log *slog.Logger) (*SessionTransport, error) {
	t := &SessionTransport{host: host, peers: peers, ids: map[string]uint64{}, log: log, queues: map[uint64]chan *pb.Message{}}
	for id, nodeID := range peers {
		t.ids[nodeID] = id
		t.queues[id] = make(chan *pb.Message, peerQueue)
	}
	if err := host.Handle(RaftProtocol, t.serve); err != nil {
		return nil, err
	}
	return t, nil
}

// SetNode connects the transport to the Raft node it feeds.
func (t *SessionTransport) SetNode(n *Node) { t.node = n }

// Send queues messages for their orderers without blocking.
func (t *SessionTransport) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		q, ok := t.queues[m.GetTo()]
		if !ok {
			continue
		}
		select {
		case q <- m:
		default:
			if m.GetType() == pb.MessageType_MsgSnap {
				t.node.ReportSnapshot(m.GetTo(), false)
			}
		}
	}
}

// Run writes each orderer's queue to its stream until ctx is done.
func (t *SessionTransport) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for id := range t.peers {
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			t.writeLoop(ctx, id)
		}(id)
	}
	wg.Wait()
}

func (t *SessionTransport) writeLoop(ctx context.Context, id uint64) {
	nodeID, q := t.peers[id], t.queues[id]
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
	from, ok := t.ids[s.Peer().NodeID]
	if !ok {
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
		if m.GetFrom() != from {
			t.log.Warn("raft message claims another sender; closing stream", "node", s.Peer().Name, "claims", m.GetFrom(), "is", from)
			return
		}
		if err := t.node.Step(ctx, &m); err != nil {
			return
		}
	}
}
