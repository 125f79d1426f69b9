package consortium

import (
	"bytes"
	"crypto/x509"
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
// is: unknown format; no or several root certificates, or one that is not
// a CA; a node of another organisation, without addresses, or whose node
// ID is not the key of its certificate; a node certificate its root did
// not issue or with the wrong role; an orderer whose Raft ID is not the
// one its key derives. A definition can come from anyone: these checks
// make sure that what an admin approves is what the nodes will present.
func CheckDefinition(def *foliov1.OrgDefinition) error {
	if def.GetFormat() != DefinitionFormat {
		return fmt.Errorf("definition format %d: this build reads format %d", def.GetFormat(), DefinitionFormat)
	}
	o := def.Org
	if o == nil || o.Name == "" || o.MspId == "" {
		return fmt.Errorf("definition names no organisation (name and msp_id required)")
	}
	if len(o.Crl) > 0 {
		return fmt.Errorf("definition of %s carries a revocation list: an organisation's first config has none (revocations go through `folio ca revoke`)", o.Name)
	}
	if len(o.RootCerts) != 1 {
		return fmt.Errorf("definition of %s has %d root certificates, want exactly 1", o.Name, len(o.RootCerts))
	}
	root, err := fcrypto.ParseCertificatePEM(o.RootCerts[0])
	if err != nil || !root.IsCA {
		return fmt.Errorf("definition of %s: root certificate is not a CA certificate: %v", o.Name, err)
	}
	if o.Kind == foliov1.OrgKind_ORG_KIND_PEER && len(def.Peers) == 0 {
		return fmt.Errorf("definition of %s: a peer organisation without peers", o.Name)
	}
	nodes := append(append([]*foliov1.NodeEndpoint(nil), def.Peers...), def.Orderers...)
	if len(def.NodeCerts) != len(nodes) {
		return fmt.Errorf("definition of %s lists %d nodes but %d node certificates", o.Name, len(nodes), len(def.NodeCerts))
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	seen := map[string]bool{}
	for i, n := range nodes {
		isOrderer := i >= len(def.Peers)
		switch {
		case n.Org != o.Name:
			return fmt.Errorf("definition of %s lists node %s of organisation %q", o.Name, n.Name, n.Org)
		case n.Name == "" || seen[n.Name] || seen[n.NodeId]:
			return fmt.Errorf("definition of %s: node %q: name and node ID required and unique", o.Name, n.Name)
		case n.ApiAddress == "" || n.P2PAddress == "":
			return fmt.Errorf("definition of %s: node %s has no API or P2P address", o.Name, n.Name)
		}
		seen[n.Name], seen[n.NodeId] = true, true
		cert, err := fcrypto.ParseCertificatePEM(def.NodeCerts[i])
		if err != nil {
			return fmt.Errorf("definition of %s: certificate of %s: %w", o.Name, n.Name, err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("definition of %s: certificate of %s is not issued by the organisation's root: %w", o.Name, n.Name, err)
		}
		id, err := fcrypto.KeyID(cert.PublicKey)
		if err != nil || id != n.NodeId {
			return fmt.Errorf("definition of %s: node %s has node ID %.12s, but its certificate's key is %.12s: the definition was altered", o.Name, n.Name, n.NodeId, id)
		}
		wantRole := "peer"
		if isOrderer {
			wantRole = "orderer"
		}
		if !hasOU(cert, wantRole) {
			return fmt.Errorf("definition of %s: %s is listed as a %s but its certificate is not a %s's (OU %v)", o.Name, n.Name, wantRole, wantRole, cert.Subject.OrganizationalUnit)
		}
		if isOrderer {
			want, err := channel.RaftIDOf(n.NodeId)
			if err != nil {
				return err
			}
			if n.RaftId != want {
				return fmt.Errorf("definition of %s: orderer %s has Raft ID %d, but its key derives %d: the definition was altered", o.Name, n.Name, n.RaftId, want)
			}
		} else if n.RaftId != 0 {
			return fmt.Errorf("definition of %s: peer %s carries a Raft ID", o.Name, n.Name)
		}
	}
	return nil
}

func hasOU(cert *x509.Certificate, ou string) bool {
	for _, v := range cert.Subject.OrganizationalUnit {
		if v == ou {
			return true
		}
	}
	return false
}

// sameRoot reports whether two PEM certificates are the same certificate.
func sameRoot(a, b []byte) bool {
	ca, err1 := fcrypto.ParseCertificatePEM(a)
	cb, err2 := fcrypto.ParseCertificatePEM(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca.Raw, cb.Raw)
}
