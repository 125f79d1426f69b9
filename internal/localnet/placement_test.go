package localnet

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity/ca"
)

// NodeNames is exactly the names, in order, that Generate gives the nodes.
func TestNodeNamesMatchGenerate(t *testing.T) {
	spec := Spec{Orgs: 2, PeersPerOrg: 1, Orderers: 1}
	want := []string{"ca.org1", "ca.org2", "ca.ordererorg", "peer0.org1", "peer0.org2", "orderer0"}
	if got := NodeNames(spec); !slices.Equal(got, want) {
		t.Fatalf("NodeNames %v, want %v", got, want)
	}
	n, err := Generate(filepath.Join(t.TempDir(), "net"), spec)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, nd := range n.Nodes {
		got = append(got, nd.Name)
		if nd.Netns != "" || nd.Env != nil {
			t.Errorf("%s placed without a placement: netns %q env %q", nd.Name, nd.Netns, nd.Env)
		}
		if host, _, _ := net.SplitHostPort(nd.API); host != "127.0.0.1" {
			t.Errorf("%s on %s without Hosts", nd.Name, nd.API)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Generate's nodes %v, NodeNames %v", got, want)
	}
	if d := NodeNames(Spec{}); len(d) != 3+4+3 {
		t.Fatalf("default spec: %v", d)
	}
}

// Hosts put every listener of a node on its address at the fixed ports,
// in its config and network.json, and in its TLS certificate (a CA's
// too); Netns and Env are recorded per node and survive a reload.
func TestGenerateWithHosts(t *testing.T) {
	spec := Spec{Orgs: 1, PeersPerOrg: 1, Orderers: 1}
	names := NodeNames(spec)
	spec.Hosts, spec.Netns = map[string]string{}, map[string]string{}
	for i, name := range names {
		spec.Hosts[name] = fmt.Sprintf("10.250.0.%d", i+1)
		spec.Netns[name] = "lab-" + name
	}
	spec.Env = map[string][]string{"peer0.org1": {"FOLIO_TEST_CLOCK_FILE=/tmp/clock"}}
	dir := filepath.Join(t.TempDir(), "net")
	if _, err := Generate(dir, spec); err != nil {
		t.Fatal(err)
	}
	n, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range n.Nodes {
		h := spec.Hosts[nd.Name]
		if nd.Netns != spec.Netns[nd.Name] {
			t.Errorf("%s: netns %q", nd.Name, nd.Netns)
		}
		if !slices.Equal(nd.Env, spec.Env[nd.Name]) {
			t.Errorf("%s: env %q", nd.Name, nd.Env)
		}
		api := HostAPIPort
		if nd.Role == config.RoleCA {
			api = HostCAPort
		}
		if nd.API != net.JoinHostPort(h, strconv.Itoa(api)) || nd.Operations != net.JoinHostPort(h, strconv.Itoa(HostOperationsPort)) {
			t.Errorf("%s: api %s operations %s, want host %s", nd.Name, nd.API, nd.Operations, h)
		}
		p := filepath.Join(dir, nd.Config)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var certPath string
		if nd.Role == config.RoleCA {
			c, err := config.ParseCA(p, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen.API != nd.API || c.Listen.Operations != nd.Operations {
				t.Errorf("%s: config listens on %+v", nd.Name, c.Listen)
			}
			certPath = filepath.Join(dir, "orgs", nd.Org, "ca", ca.TLSCertFile)
		} else {
			c, err := config.ParseNode(p, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen.API != nd.API || c.Listen.P2P != net.JoinHostPort(h, strconv.Itoa(HostP2PPort)) || c.Listen.Operations != nd.Operations {
				t.Errorf("%s: config listens on %+v", nd.Name, c.Listen)
			}
			for _, o := range c.Consortium {
				caNode, _ := n.Node(caNodeName(o.Name))
				if o.CAAddress != caNode.API {
					t.Errorf("%s: CA of %s at %s, want %s", nd.Name, o.Name, o.CAAddress, caNode.API)
				}
			}
			certPath = c.TLS.Cert
		}
		cert, err := fcrypto.ReadCertificate(certPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("%s: TLS certificate: %v", nd.Name, err)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, FileName))
	if !strings.Contains(string(raw), `"netns": "lab-peer0.org1"`) || !strings.Contains(string(raw), "FOLIO_TEST_CLOCK_FILE") {
		t.Fatalf("network.json lacks the placement:\n%s", raw)
	}
}

// A node without a namespace or environment is written exactly as before
// they existed, and an older network.json loads with none.
func TestPlacementFieldsKeepTheFormat(t *testing.T) {
	data, _ := json.Marshal(Node{Name: "peer0.org1", API: "127.0.0.1:1"})
	if strings.Contains(string(data), "netns") || strings.Contains(string(data), "env") {
		t.Fatalf("empty placement written: %s", data)
	}
	var nd Node
	if err := json.Unmarshal([]byte(`{"name":"peer0.org1","role":"peer","api":"127.0.0.1:1"}`), &nd); err != nil || nd.Netns != "" || nd.Env != nil {
		t.Fatalf("old node: %+v %v", nd, err)
	}
}

func TestSpecRefusesBadPlacement(t *testing.T) {
	base := Spec{Orgs: 1, PeersPerOrg: 1, Orderers: 1}
	all := func(f func(string) string) map[string]string {
		m := map[string]string{}
		for _, name := range NodeNames(base) {
			m[name] = f(name)
		}
		return m
	}
	ips := map[string]string{"ca.org1": "10.0.0.1", "ca.ordererorg": "10.0.0.2", "peer0.org1": "10.0.0.3", "orderer0": "10.0.0.4"}
	for _, tc := range []struct {
		name string
		mod  func(*Spec)
		want string
	}{
		{"unknown host", func(s *Spec) { s.Hosts = map[string]string{"peer9.org1": "10.0.0.1"} }, `no node "peer9.org1"`},
		{"not an IP", func(s *Spec) { s.Hosts = map[string]string{"peer0.org1": "example.com"} }, "not an IP address"},
		{"unspecified", func(s *Spec) { s.Hosts = map[string]string{"peer0.org1": "0.0.0.0"} }, "not an IP address"},
		{"shared IP", func(s *Spec) { s.Hosts = map[string]string{"peer0.org1": "10.0.0.1", "orderer0": "10.0.0.1"} }, "both have 10.0.0.1"},
		{"some nodes in namespaces", func(s *Spec) { s.Hosts = ips; s.Netns = map[string]string{"peer0.org1": "x"} }, "every node must"},
		{"namespace without host", func(s *Spec) {
			s.Netns = all(func(n string) string { return "lab-" + n })
			s.Hosts = map[string]string{"peer0.org1": "10.0.0.3"}
		}, "has no host address"},
		{"bad env", func(s *Spec) { s.Env = map[string][]string{"orderer0": {"NOEQUALS"}} }, "not KEY=VALUE"},
		{"env of unknown node", func(s *Spec) { s.Env = map[string][]string{"nobody": {"A=B"}} }, `no node "nobody"`},
	} {
		s := base
		s.EnsureDefaults()
		tc.mod(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	ok := base
	ok.EnsureDefaults()
	ok.Hosts = ips
	ok.Netns = all(func(n string) string { return "lab-" + n })
	if err := ok.Validate(); err != nil {
		t.Fatalf("a full placement: %v", err)
	}
}
