package localnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/folio-ledger/folio/internal/atomicfile"
)

// Format is the network directory format this build writes; it refuses to
// use a directory with a higher format.
const Format = 1

// FileName is the network description inside a network directory.
const FileName = "network.json"

// GenesisFile is the channel's genesis block inside a network directory.
const GenesisFile = "genesis.block"

// StateKeyFile holds the 32-byte state key that every peer's enclave of a
// local network shares for confidential contracts (hex, mode 0600). A real
// consortium provisions it to its enclaves out of band.
const StateKeyFile = "enclave-state.key"

// ErrNotNetwork means a directory holds no network.json.
var ErrNotNetwork = errors.New("not a Folio network directory")

// ErrUnknownNode means a node name is not one of the network's nodes; the
// error wrapping it lists the known names.
var ErrUnknownNode = errors.New("no such node")

// Network is the content of network.json.
type Network struct {
	Format    int       `json:"format"`
	Channel   string    `json:"channel"`
	CreatedAt time.Time `json:"created_at"`
	Orgs      []Org     `json:"orgs"`
	Nodes     []Node    `json:"nodes"`
}

// Org is one organisation of the network.
type Org struct {
	Name  string `json:"name"`
	MSPID string `json:"msp_id"`
	// Kind is "peer" for organisations running peers, "orderer" for the
	// ordering organisation.
	Kind string `json:"kind"`
	// RootCert is the root certificate's path, relative to the directory.
	RootCert string `json:"root_cert"`
	// CA is the name of the organisation's CA node.
	CA string `json:"ca"`
}

// Node is one process of the network.
type Node struct {
	Name string `json:"name"`
	// Role is "peer", "orderer" or "ca".
	Role string `json:"role"`
	Org  string `json:"org"`
	// Config and Log are paths relative to the directory.
	Config string `json:"config"`
	Log    string `json:"log"`
	// API is host:port of the node's RPC listener.
	API string `json:"api"`
	// P2P is host:port of the node's session listener (peers and orderers).
	P2P string `json:"p2p,omitempty"`
	// Operations is host:port of the node's operations listener (/metrics,
	// /healthz, /readyz, /debug/pprof): plain HTTP on 127.0.0.1; on a
	// node's own address (Spec.Hosts) mutual TLS for admins (see
	// Operations).
	Operations string `json:"operations,omitempty"`
	// NodeID is the hex SHA-256 of the node's public signing key.
	NodeID string `json:"node_id,omitempty"`
	// PID is the process ID while the node runs under a supervisor, else 0.
	PID       int       `json:"pid,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// Stopped is true while the node is stopped by the user (`folio network
	// stop`): Status then reports it "stopped", not "down". StartNode and Up
	// clear it when they start the node. Absent in directories written
	// before it existed (it is omitted when false), so the format did not
	// change: an older build ignores it.
	Stopped bool `json:"stopped,omitempty"`
	// Netns is the network namespace the node runs in (Spec.Netns);
	// empty: the caller's. Env is extra environment of its process
	// (Spec.Env). Every start of the node (Up, StartNode, RestartNode)
	// uses both. Both are omitted when empty, so directories written
	// before they existed load unchanged.
	Netns string   `json:"netns,omitempty"`
	Env   []string `json:"env,omitempty"`
}

// Load reads network.json from dir, refusing formats newer than this build.
func Load(dir string) (*Network, error) {
	p := filepath.Join(dir, FileName)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no %s): create one with `folio network up --network %s`", dir, ErrNotNetwork, FileName, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	var n Network
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if n.Format > Format {
		return nil, fmt.Errorf("%s has format %d, written by a newer Folio (this build reads up to %d): upgrade folio", p, n.Format, Format)
	}
	if n.Format < 1 {
		return nil, fmt.Errorf("%s: format missing or invalid", p)
	}
	return &n, nil
}

// Save writes network.json into dir atomically.
func (n *Network) Save(dir string) error {
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, FileName), append(data, '\n'), 0o644)
}

// Org returns the organisation with the given name.
func (n *Network) Org(name string) (*Org, error) {
	for i := range n.Orgs {
		if n.Orgs[i].Name == name {
			return &n.Orgs[i], nil
		}
	}
	names := make([]string, 0, len(n.Orgs))
	for _, o := range n.Orgs {
		names = append(names, o.Name)
	}
	return nil, fmt.Errorf("no organisation %q in this network (it has %v)", name, names)
}

// Node returns the node with the given name.
func (n *Network) Node(name string) (*Node, error) {
	for i := range n.Nodes {
		if n.Nodes[i].Name == name {
			return &n.Nodes[i], nil
		}
	}
	names := make([]string, 0, len(n.Nodes))
	for _, nd := range n.Nodes {
		names = append(names, nd.Name)
	}
	return nil, fmt.Errorf("%w: no node %q in this network (its nodes: %s)", ErrUnknownNode, name, strings.Join(names, ", "))
}

// PeersOf returns the peers of an organisation in order.
func (n *Network) PeersOf(org string) []Node {
	var out []Node
	for _, nd := range n.Nodes {
		if nd.Role == "peer" && nd.Org == org {
			out = append(out, nd)
		}
	}
	return out
}
