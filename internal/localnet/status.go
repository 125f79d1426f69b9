package localnet

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/evidence"
	"github.com/folio-ledger/folio/internal/identity"
)

// Node states reported by Status.
const (
	StateUp          = "up"          // running and ready
	StateStarting    = "starting"    // running, answering, not ready yet
	StateUnreachable = "unreachable" // running but not answering
	StateStopped     = "stopped"     // not running: stopped by the user (`folio network stop`)
	StateDown        = "down"        // not running, not stopped by the user: crashed, killed, or brought down
)

// NodeStatus is one line of `folio network status`.
type NodeStatus struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Org   string `json:"org"`
	MSPID string `json:"msp_id,omitempty"`
	API   string `json:"api"`
	// Operations is the node's operations listener (metrics, health,
	// profiles), plain HTTP on loopback.
	Operations string `json:"operations,omitempty"`
	State      string `json:"state"`
	PID        int    `json:"pid,omitempty"`
	Height     uint64 `json:"height"`
	NodeID     string `json:"node_id,omitempty"`
	Version    string `json:"version,omitempty"`
	Uptime     string `json:"uptime,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Orderers only.
	RaftRole   string `json:"raft_role,omitempty"`
	RaftTerm   uint64 `json:"raft_term,omitempty"`
	RaftLeader string `json:"raft_leader,omitempty"`
	// LastBlockHash is the hex hash of the node's last block.
	LastBlockHash string `json:"last_block_hash,omitempty"`
	// Sessions are the node's sessions to other nodes (peers and orderers).
	Sessions []SessionStatus `json:"sessions,omitempty"`
	// Peers only. Attestation is the state root the peer signed after the
	// last block every answering peer holds, as Status compared it.
	Attestation *AttestationStatus `json:"attestation,omitempty"`
	// StateRootDisagrees flags a peer whose signed state root differs from
	// the other peers' (at Attestation's block, or in a majority of the
	// other peers' own checks); Disagreement says how.
	StateRootDisagrees bool   `json:"state_root_disagrees,omitempty"`
	Disagreement       string `json:"disagreement,omitempty"`
	// AttestationChecks are the peer's own latest checks of the other
	// peers' attestations (docs/evidence.md).
	AttestationChecks []AttestationCheck `json:"attestation_checks,omitempty"`
	// Health is a running peer's own judgement of itself from the
	// attestations (docs/evidence.md): "ok", "diverged" (its state root
	// differs from every other peer's; it stopped endorsing and needs
	// `folio peer rebuild`) or "equivocation" (it saw two orderer-signed
	// blocks for one height and stopped committing). Empty for other
	// nodes and for peers that did not answer. HealthDetail says what it
	// found.
	Health       string `json:"health"`
	HealthDetail string `json:"health_detail"`
}

// AttestationStatus is a peer's signed state root after one block, as
// `network status` obtained and verified it.
type AttestationStatus struct {
	Block     uint64 `json:"block"`
	BlockHash string `json:"block_hash,omitempty"`
	StateRoot string `json:"state_root,omitempty"`
	// Error says why there is no valid attestation.
	Error string `json:"error,omitempty"`
}

// AttestationCheck is one check a peer made of another peer's attestation.
type AttestationCheck struct {
	Peer          string    `json:"peer"`
	Block         uint64    `json:"block"`
	Result        string    `json:"result"`
	StateRoot     string    `json:"state_root,omitempty"`
	PeerStateRoot string    `json:"peer_state_root,omitempty"`
	Detail        string    `json:"detail,omitempty"`
	CheckedAt     time.Time `json:"checked_at"`
	Disagreements uint64    `json:"disagreements,omitempty"`
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
	return StatusWith(ctx, dir, n, hc), nil
}

// StatusWith is Status asking the running nodes of n (loaded from dir,
// an absolute path) through hc, a client of any member identity (node
// information and attestations need no admin): the explorer reads as its
// own identity.
func StatusWith(ctx context.Context, dir string, n *Network, hc *http.Client) []NodeStatus {
	running := nodeProcesses(dir)
	out := make([]NodeStatus, len(n.Nodes))
	var wg sync.WaitGroup
	for i, nd := range n.Nodes {
		out[i] = NodeStatus{Name: nd.Name, Role: nd.Role, Org: nd.Org, API: nd.API, Operations: nd.Operations}
		pid, ok := running[filepath.Join(dir, nd.Config)]
		if !ok {
			out[i].State = idleState(&n.Nodes[i])
			if out[i].State == StateStopped {
				out[i].Reason = "stopped by the user: start it with `folio network start " + nd.Name + "`"
			}
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
	compareRoots(ctx, dir, n, hc, out)
	return out
}

// compareRoots asks every answering peer for its signed state root after
// the last block all of them hold, verifies the signatures with the
// organisations' root certificates, and flags the peers that disagree with
// the majority, or that a majority of the other peers' own checks found
// disagreeing (evidence.Dissenters, evidence.Reported).
func compareRoots(ctx context.Context, dir string, n *Network, hc *http.Client, out []NodeStatus) {
	var peers []*NodeStatus
	reports := map[string][]*foliov1.AttestationCheck{}
	for i := range out {
		s := &out[i]
		if s.Role != "peer" || (s.State != StateUp && s.State != StateStarting) || s.Height == 0 {
			continue
		}
		peers = append(peers, s)
		for _, c := range s.AttestationChecks {
			reports[s.Name] = append(reports[s.Name], &foliov1.AttestationCheck{Peer: c.Peer, BlockNumber: c.Block, Result: c.Result})
		}
	}
	if len(peers) == 0 {
		return
	}
	flags := evidence.Reported(reports)
	if len(peers) > 1 {
		msp, err := networkMSP(dir, n)
		if err != nil {
			for _, s := range peers {
				s.Attestation = &AttestationStatus{Error: err.Error()}
			}
			return
		}
		low := peers[0].Height
		for _, s := range peers {
			low = min(low, s.Height)
		}
		stmts := map[string]*foliov1.StateAttestation{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, s := range peers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := attestation(ctx, hc, msp, n.Channel, s, low-1)
				s.Attestation = &AttestationStatus{Block: low - 1}
				if err != nil {
					s.Attestation.Error = err.Error()
					return
				}
				s.Attestation.BlockHash, s.Attestation.StateRoot = hex.EncodeToString(st.BlockHash), hex.EncodeToString(st.StateRoot)
				mu.Lock()
				stmts[s.Name] = st
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(stmts) > 1 {
			for name, why := range evidence.Dissenters(stmts) {
				flags[name] = why // the signed roots Status saw itself come first
			}
		}
	}
	for _, s := range peers {
		if why, ok := flags[s.Name]; ok {
			s.StateRootDisagrees, s.Disagreement = true, why
		}
	}
}

// attestation asks a peer for its signed state root after block num and
// verifies it.
func attestation(ctx context.Context, hc *http.Client, msp *identity.Verifier, channel string, s *NodeStatus, num uint64) (*foliov1.StateAttestation, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := foliov1connect.NewEvidenceServiceClient(hc, "https://"+s.API).Attest(ctx, connect.NewRequest(&foliov1.AttestRequest{BlockNumber: num}))
	if err != nil {
		return nil, err
	}
	_, st, err := evidence.VerifyAttestation(msp, channel, s.NodeID, resp.Msg)
	if err != nil {
		return nil, err
	}
	if st.BlockNumber != num {
		return nil, fmt.Errorf("asked for block %d, it attested block %d", num, st.BlockNumber)
	}
	return st, nil
}

// networkMSP is a verifier of the network's organisations (root
// certificates only: Status does not fetch revocation lists).
func networkMSP(dir string, n *Network) (*identity.Verifier, error) {
	var orgs []identity.Org
	for _, o := range n.Orgs {
		c, err := fcrypto.ReadCertificate(filepath.Join(dir, o.RootCert))
		if err != nil {
			return nil, err
		}
		orgs = append(orgs, identity.Org{Name: o.Name, MSPID: o.MSPID, Root: c})
	}
	return identity.NewVerifier(orgs, nil)
}

// Note is the NOTE column of a node's status line: why it is not up, why
// it judged itself unhealthy, or why its state root is suspect.
func (s *NodeStatus) Note() string {
	var parts []string
	if s.Health != "" && s.Health != evidence.HealthOK {
		parts = append(parts, strings.ToUpper(s.Health)+": "+s.HealthDetail)
	}
	if s.StateRootDisagrees {
		parts = append(parts, "STATE ROOT DISAGREES: "+s.Disagreement)
	}
	if s.Reason != "" {
		parts = append(parts, s.Reason)
	}
	if s.Attestation != nil && s.Attestation.Error != "" {
		parts = append(parts, fmt.Sprintf("no valid attestation of block %d: %s", s.Attestation.Block, s.Attestation.Error))
	}
	return strings.Join(parts, "; ")
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
	for _, c := range info.AttestationChecks {
		s.AttestationChecks = append(s.AttestationChecks, AttestationCheck{Peer: c.Peer, Block: c.BlockNumber, Result: c.Result,
			StateRoot: hex.EncodeToString(c.StateRoot), PeerStateRoot: hex.EncodeToString(c.PeerStateRoot), Detail: c.Detail,
			CheckedAt: time.Unix(0, c.CheckedAtUnixNano).UTC(), Disagreements: c.Disagreements})
	}
	sort.Slice(s.AttestationChecks, func(i, j int) bool { return s.AttestationChecks[i].Peer < s.AttestationChecks[j].Peer })
	s.Health, s.HealthDetail = info.Health, info.HealthDetail
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
