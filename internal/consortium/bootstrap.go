package consortium

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/localnet"
)

// ErrNotMember means the channel's configuration in force does not (yet)
// hold an organisation, or not its nodes as its directory has them.
var ErrNotMember = errors.New("not a member of the channel")

// CheckMember says whether the organisation of dir is in cfg with its root
// certificate and every node of dir under the same node ID; it returns the
// organisation's name.
func CheckMember(dir string, cfg *foliov1.ChannelConfig) (string, error) {
	def, err := Export(dir)
	if err != nil {
		return "", err
	}
	name := def.Org.Name
	var in *foliov1.OrgConfig
	for _, o := range cfg.Orgs {
		if o.Name == name || o.MspId == def.Org.MspId {
			in = o
		}
	}
	if in == nil {
		return name, fmt.Errorf("%w: %s is not an organisation of channel %s (sequence %d) yet: ask the consortium to run `folio channel add-org --definition` with its definition (`folio org export`)",
			ErrNotMember, name, cfg.ChannelId, cfg.Sequence)
	}
	if in.Name != name || in.MspId != def.Org.MspId || len(in.RootCerts) == 0 || !sameRoot(in.RootCerts[0], def.Org.RootCerts[0]) {
		return name, fmt.Errorf("%w: channel %s holds an organisation %s (%s) with another name, MSP ID or root certificate than %s: this directory is not the organisation the channel knows",
			ErrNotMember, cfg.ChannelId, in.Name, in.MspId, dir)
	}
	ids := map[string]string{}
	for _, n := range append(append([]*foliov1.NodeEndpoint(nil), cfg.Peers...), cfg.Orderers...) {
		ids[n.Name] = n.NodeId
	}
	for _, n := range append(append([]*foliov1.NodeEndpoint(nil), def.Peers...), def.Orderers...) {
		switch id, ok := ids[n.Name]; {
		case !ok:
			return name, fmt.Errorf("%w: node %s of %s is not in channel %s yet (add it with `folio orderer add` or `folio channel add-org`)", ErrNotMember, n.Name, name, cfg.ChannelId)
		case id != n.NodeId:
			return name, fmt.Errorf("%w: channel %s lists %s with node ID %.12s, this directory's key is %.12s", ErrNotMember, cfg.ChannelId, n.Name, id, n.NodeId)
		}
	}
	return name, nil
}

// Bootstrap prepares the organisation in dir to run in the channel of
// genesis whose configuration in force is current: it writes
// dir/genesis.block (refusing to replace a different one), records the
// channel in network.json, and lists every other node of current as
// bootstrap endpoints (orderers:, peers:) in each node's config.yaml, and
// every other organisation's root certificate (consortium:, written to
// dir/channel-roots), so the nodes find and admit the channel's members
// before they have read its configuration from the chain (an orderer that
// joined after genesis may be the only one left). Other fields of the
// configs are kept as they are. current must come from a source the
// caller trusts (`folio org join` reads it over TLS checked against the
// genesis block's roots); once the chain lists the node, the chain's
// organisations replace these.
func Bootstrap(dir string, genesis *foliov1.Block, current *foliov1.ChannelConfig) error {
	g, err := channel.FromGenesis(genesis)
	if err != nil {
		return err
	}
	if g.ChannelId != current.ChannelId {
		return fmt.Errorf("the genesis block is of channel %s, the configuration of channel %s", g.ChannelId, current.ChannelId)
	}
	raw, err := proto.Marshal(genesis)
	if err != nil {
		return err
	}
	gp := filepath.Join(dir, localnet.GenesisFile)
	switch old, err := os.ReadFile(gp); {
	case err == nil:
		var prev foliov1.Block
		if proto.Unmarshal(old, &prev) != nil || !proto.Equal(&prev, genesis) {
			return fmt.Errorf("%s already holds another genesis block: this organisation joined another channel; use a new directory or move it aside", gp)
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := atomicfile.WriteFile(gp, raw, 0o644); err != nil {
			return err
		}
	default:
		return err
	}
	n, err := localnet.Load(dir)
	if err != nil {
		return err
	}
	n.Channel = current.ChannelId
	roots, err := writeRoots(dir, current)
	if err != nil {
		return err
	}
	for _, nd := range n.Nodes {
		if nd.Role != config.RolePeer && nd.Role != config.RoleOrderer {
			continue
		}
		if err := setBootstrap(filepath.Join(dir, nd.Config), nd.Name, current, roots); err != nil {
			return fmt.Errorf("%s: %w", nd.Name, err)
		}
	}
	return n.Save(dir)
}

// writeRoots writes every organisation's root certificate of cfg to
// dir/channel-roots/MSPID.pem and returns their consortium entries.
func writeRoots(dir string, cfg *foliov1.ChannelConfig) ([]config.OrgRef, error) {
	rd := filepath.Join(dir, "channel-roots")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return nil, err
	}
	var out []config.OrgRef
	for _, o := range cfg.Orgs {
		if len(o.RootCerts) == 0 || !mspIDPattern.MatchString(o.MspId) {
			continue // Validate refuses the first; the second would be an odd file name
		}
		p := filepath.Join(rd, o.MspId+".pem")
		if err := atomicfile.WriteFile(p, o.RootCerts[0], 0o644); err != nil {
			return nil, err
		}
		out = append(out, config.OrgRef{Name: o.Name, MSPID: o.MspId, RootCert: p})
	}
	return out, nil
}

var mspIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// setBootstrap rewrites the orderers: and peers: lists of one config file
// and adds the other organisations' roots to its consortium: list.
func setBootstrap(path, self string, cfg *foliov1.ChannelConfig, roots []config.OrgRef) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c config.Node
	if err := yaml.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.Orderers, c.Peers = endpoints(cfg.Orderers, self), endpoints(cfg.Peers, self)
	have := map[string]bool{}
	for _, o := range c.Consortium {
		have[o.MSPID] = true
	}
	for _, r := range roots {
		if !have[r.MSPID] { // the node's own organisation keeps its entry
			c.Consortium = append(c.Consortium, r)
		}
	}
	out, err := config.Marshal(&c)
	if err != nil {
		return err
	}
	// Keep the file's leading comment lines.
	var header []byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("#")) {
			break
		}
		header = append(header, line...)
	}
	return atomicfile.WriteFile(path, append(header, out...), 0o644)
}

func endpoints(nodes []*foliov1.NodeEndpoint, self string) []config.Endpoint {
	var out []config.Endpoint
	for _, n := range nodes {
		if n.Name != self {
			out = append(out, config.Endpoint{Name: n.Name, Org: n.Org, API: n.ApiAddress, P2P: n.P2PAddress, NodeID: n.NodeId})
		}
	}
	return out
}
