package consortium

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/encoding/protojson"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/localnet"
)

// DefinitionFormat is the OrgDefinition format this build writes and reads.
const DefinitionFormat = 1

// MaxDefinitionBytes bounds a definition file: a handful of certificates.
const MaxDefinitionBytes = 1 << 20

// Export builds the public definition of the organisation in dir (made by
// Init): its MSP ID and root certificate, each node with its node ID,
// advertised addresses and signing certificate, and each orderer's Raft ID
// (channel.RaftIDOf). It reads no private key.
func Export(dir string) (*foliov1.OrgDefinition, error) {
	n, err := localnet.Load(dir)
	if err != nil {
		return nil, err
	}
	if len(n.Orgs) != 1 {
		return nil, fmt.Errorf("%s holds %d organisations: org export works on a directory made by `folio org init` (one organisation)", dir, len(n.Orgs))
	}
	o := n.Orgs[0]
	root, err := os.ReadFile(filepath.Join(dir, o.RootCert))
	if err != nil {
		return nil, fmt.Errorf("root certificate of %s: %w", o.Name, err)
	}
	kind := foliov1.OrgKind_ORG_KIND_PEER
	if o.Kind == "orderer" {
		kind = foliov1.OrgKind_ORG_KIND_ORDERER
	}
	def := &foliov1.OrgDefinition{Format: DefinitionFormat,
		Org: &foliov1.OrgConfig{Name: o.Name, MspId: o.MSPID, Kind: kind, RootCerts: [][]byte{root}}}
	var peerCerts, ordererCerts [][]byte
	for _, nd := range n.Nodes {
		if nd.Role != config.RolePeer && nd.Role != config.RoleOrderer {
			continue
		}
		cert, err := os.ReadFile(filepath.Join(dir, filepath.Dir(nd.Config), "msp", "cert.pem"))
		if err != nil {
			return nil, fmt.Errorf("signing certificate of %s: %w", nd.Name, err)
		}
		ep := &foliov1.NodeEndpoint{Name: nd.Name, Org: nd.Org, NodeId: nd.NodeID, ApiAddress: nd.API, P2PAddress: nd.P2P}
		if nd.Role == config.RoleOrderer {
			if ep.RaftId, err = channel.RaftIDOf(nd.NodeID); err != nil {
				return nil, fmt.Errorf("orderer %s: %w", nd.Name, err)
			}
			def.Orderers = append(def.Orderers, ep)
			ordererCerts = append(ordererCerts, cert)
		} else {
			def.Peers = append(def.Peers, ep)
			peerCerts = append(peerCerts, cert)
		}
	}
	def.NodeCerts = append(peerCerts, ordererCerts...)
	if err := CheckDefinition(def); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return def, nil
}

// MarshalDefinition encodes a definition as indented JSON, for a human to
// read before passing it on.
func MarshalDefinition(def *foliov1.OrgDefinition) ([]byte, error) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(def)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseDefinition decodes and checks a definition (CheckDefinition).
func ParseDefinition(data []byte) (*foliov1.OrgDefinition, error) {
	if len(data) > MaxDefinitionBytes {
		return nil, fmt.Errorf("definition is %d bytes, more than %d: not a definition written by `folio org export`", len(data), MaxDefinitionBytes)
	}
	var def foliov1.OrgDefinition
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, &def); err != nil {
		return nil, fmt.Errorf("definition does not decode (write it with `folio org export`): %w", err)
	}
	if err := CheckDefinition(&def); err != nil {
		return nil, err
	}
	return &def, nil
}

// ReadDefinition reads and checks a definition file.
func ReadDefinition(path string) (*foliov1.OrgDefinition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("definition: %w", err)
	}
	def, err := ParseDefinition(data)
	if err != nil {
		return nil, fmt.Errorf("definition %s: %w", path, err)
	}
	return def, nil
}

// CheckDefinition refuses a definition the channel must not take as it
// is: everything channel.ValidateDefinition refuses (unknown format, an
// organisation that does not validate, a node of another organisation or
// without addresses, a node ID that is not its certificate's key, a node
// certificate its root did not issue or with the wrong role, an orderer
// whose Raft ID is not the one its key derives), and, for a definition
// written by `folio org export`: a revocation list, other than exactly one
// root certificate, a peer organisation without peers. A definition can
// come from anyone: these checks make sure that what an admin approves is
// what the nodes will present.
func CheckDefinition(def *foliov1.OrgDefinition) error {
	if err := channel.ValidateDefinition(def); err != nil {
		return err
	}
	o := def.Org
	switch {
	case len(o.Crl) > 0:
		return fmt.Errorf("definition of %s carries a revocation list: an organisation's first config has none (revocations go through `folio ca revoke`)", o.Name)
	case len(o.RootCerts) != 1:
		return fmt.Errorf("definition of %s has %d root certificates, want exactly 1", o.Name, len(o.RootCerts))
	case o.Kind == foliov1.OrgKind_ORG_KIND_PEER && len(def.Peers) == 0:
		return fmt.Errorf("definition of %s: a peer organisation without peers", o.Name)
	}
	return nil
}

// sameRoot reports whether two PEM certificates are the same certificate.
func sameRoot(a, b []byte) bool {
	ca, err1 := fcrypto.ParseCertificatePEM(a)
	cb, err2 := fcrypto.ParseCertificatePEM(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca.Raw, cb.Raw)
}
