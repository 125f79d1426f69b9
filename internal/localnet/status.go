package localnet

import (
	"context"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/folio-ledger/folio/client"
)

// Node states reported by Status.
const (
	StateUp          = "up"          // running and ready
	StateStarting    = "starting"    // running, answering, not ready yet
	StateUnreachable = "unreachable" // running but not answering
	StateDown        = "down"        // not running
)

// NodeStatus is one line of `folio network status`.
type NodeStatus struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Org     string `json:"org"`
	MSPID   string `json:"msp_id,omitempty"`
	API     string `json:"api"`
	State   string `json:"state"`
	PID     int    `json:"pid,omitempty"`
	Height  uint64 `json:"height"`
	NodeID  string `json:"node_id,omitempty"`
	Version string `json:"version,omitempty"`
	Uptime  string `json:"uptime,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Orderers only.
	RaftRole   string `json:"raft_role,omitempty"`
	RaftTerm   uint64 `json:"raft_term,omitempty"`
	RaftLeader string `json:"raft_leader,omitempty"`
	// LastBlockHash is the hex hash of the node's last block.
	LastBlockHash string `json:"last_block_hash,omitempty"`
	// Sessions are the node's sessions to other nodes (peers and orderers).
	Sessions []SessionStatus `json:"sessions,omitempty"`
}

// SessionStatus is one node-to-node session as its node reports it.
type SessionStatus struct {
	Peer     string    `json:"peer"`
	Name     string    `json:"name"`
	DialedBy string    `json:"dialed_by"`
	Since    time.Time `json:"since"`
	State    string    `json:"state"`
}

// Status reports every node of the network in dir, asking each running one
// over mutual TLS.
func Status(ctx context.Context, dir string) ([]NodeStatus, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	n, err := Load(dir)
	if err != nil {
		return nil, err
	}
	hc, err := AdminClient(dir, n)
	if err != nil {
		return nil, err
	}
	running := nodeProcesses(dir)
	out := make([]NodeStatus, len(n.Nodes))
	var wg sync.WaitGroup
	for i, nd := range n.Nodes {
		out[i] = NodeStatus{Name: nd.Name, Role: nd.Role, Org: nd.Org, API: nd.API, State: StateDown}
		pid, ok := running[filepath.Join(dir, nd.Config)]
		if !ok {
			continue
		}
		out[i].PID = pid
		wg.Add(1)
		go func(s *NodeStatus) {
			defer wg.Done()
			probe(ctx, hc, s)
		}(&out[i])
	}
	wg.Wait()
	return out, nil
}

func probe(ctx context.Context, hc *http.Client, s *NodeStatus) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	info, err := client.NodeInfo(ctx, hc, s.API)
	if err != nil {
		s.State, s.Reason = StateUnreachable, err.Error()
		return
	}
	s.MSPID, s.Height, s.NodeID, s.Version = info.MspId, info.Height, info.NodeId, info.Version
	s.RaftRole, s.RaftTerm, s.RaftLeader = info.RaftRole, info.RaftTerm, info.RaftLeader
	if len(info.LastBlockHash) > 0 {
		s.LastBlockHash = hex.EncodeToString(info.LastBlockHash)
	}
	for _, ss := range info.Sessions {
		s.Sessions = append(s.Sessions, SessionStatus{Peer: ss.Peer, Name: ss.Name, DialedBy: ss.DialedBy,
			Since: time.Unix(0, ss.SinceUnixNano).UTC(), State: ss.State})
	}
	if info.StartedAtUnixNano > 0 {
		s.Uptime = time.Since(time.Unix(0, info.StartedAtUnixNano)).Truncate(time.Second).String()
	}
	if info.Ready {
		s.State = StateUp
	} else {
		s.State, s.Reason = StateStarting, info.NotReadyReason
	}
}
