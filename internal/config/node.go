package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// Format is the configuration format this build writes and reads. A file with
// a higher format was written by a newer Folio and is refused.
const Format = 1

// Node roles.
const (
	RolePeer    = "peer"
	RoleOrderer = "orderer"
	RoleCA      = "ca"
)

// KeyPair names a certificate and its private key (PEM files).
type KeyPair struct {
	// Cert is the PEM certificate file.
	Cert string `yaml:"cert"`
	// Key is the PEM PKCS#8 private key file (mode 0600).
	Key string `yaml:"key"`
}

// Listen holds the addresses a node listens on.
type Listen struct {
	// API is host:port of the node's RPC, health and metrics listener (mutual TLS).
	API string `yaml:"api"`
	// P2P is host:port of the node-to-node session listener. Empty makes the
	// node dial-only: it refuses inbound sessions and dials every other node.
	P2P string `yaml:"p2p"`
	// P2PAdvertise is the address other nodes should dial, when P2P binds a
	// wildcard such as 0.0.0.0:7052. Default: P2P.
	P2PAdvertise string `yaml:"p2p_advertise"`
}

// OrgRef is a consortium organisation as a node needs to know it.
type OrgRef struct {
	Name  string `yaml:"name"`
	MSPID string `yaml:"msp_id"`
	// RootCert is the organisation's root CA certificate (PEM file).
	RootCert string `yaml:"root_cert"`
	// CAAddress is host:port of the organisation's CA service, polled for
	// revocation lists; empty disables polling for this organisation.
	CAAddress string `yaml:"ca_address"`
}

// Endpoint is another node of the network.
type Endpoint struct {
	Name string `yaml:"name"`
	Org  string `yaml:"org"`
	// API is host:port of the node's RPC listener.
	API string `yaml:"api"`
	// P2P is host:port of the node's session listener; empty for a dial-only node.
	P2P string `yaml:"p2p"`
	// NodeID is the hex SHA-256 of the node's public signing key; sessions
	// to it must prove this identity.
	NodeID string `yaml:"node_id"`
}

// Log configures structured logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default json.
	Format string `yaml:"format"`
}

// Node is the configuration of a peer or an orderer.
type Node struct {
	// Format must be 1 (see Format).
	Format int `yaml:"format"`
	// Name is unique in the network, e.g. "peer0.org1".
	Name string `yaml:"name"`
	// Role is "peer" or "orderer".
	Role string `yaml:"role"`
	// Org is the organisation's name, e.g. "Org1".
	Org string `yaml:"org"`
	// MSPID is the organisation's MSP ID, e.g. "Org1MSP"; it must be listed in Consortium.
	MSPID string `yaml:"msp_id"`
	// Identity is the node's signing certificate and key, issued by its organisation's CA.
	Identity KeyPair `yaml:"identity"`
	// TLS is the node's transport certificate and key.
	TLS    KeyPair `yaml:"tls"`
	Listen Listen  `yaml:"listen"`
	// DataDir holds the node's databases. Created if missing (mode 0700).
	DataDir string `yaml:"data_dir"`
	// Genesis is the channel's genesis block (block 0), the same file for
	// every node of the network.
	Genesis string `yaml:"genesis"`
	// Consortium lists every organisation whose members the node accepts.
	Consortium []OrgRef `yaml:"consortium"`
	// Orderers and Peers list the other nodes of the network.
	Orderers []Endpoint `yaml:"orderers"`
	Peers    []Endpoint `yaml:"peers"`
	// CRLRefresh is how often revocation lists are fetched from the CAs. Default 5s.
	CRLRefresh time.Duration `yaml:"crl_refresh"`
	// ShutdownGrace bounds a graceful stop. Default 10s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// GCPercent is the Go garbage collector's target (GOGC), unless the
	// GOGC environment variable is set. Default 200: nodes trade memory
	// for CPU, which is the scarce resource.
	GCPercent int `yaml:"gc_percent"`
	// Enclave configures a peer's contract enclave (ignored on orderers).
	Enclave Enclave `yaml:"enclave"`
	Log     Log     `yaml:"log"`
}

// Enclave configures the process that runs a peer's contracts and its
// cache tiers (docs/enclave.md).
type Enclave struct {
	// InternalCacheBytes bounds the enclave's internal (plaintext) cache.
	// Default 64 MiB; -1 disables it.
	InternalCacheBytes int64 `yaml:"internal_cache_bytes"`
	// ExternalCacheBytes bounds the peer's external cache of sealed
	// values. Default 256 MiB; -1 disables it.
	ExternalCacheBytes int64 `yaml:"external_cache_bytes"`
	// EcallBatch is the most simulate calls that cross to the enclave
	// process together. Default 64; 1 sends each call alone.
	EcallBatch int `yaml:"ecall_batch"`
	// StateKey is the file holding the network's 32-byte state key, which
	// every enclave needs to run confidential contracts. Default none:
	// confidential contracts are refused.
	StateKey string `yaml:"state_key"`
	// CompileCache is the directory of compiled contract machine code
	// (wazero's compilation cache). Peers of one machine may share it.
	// Default: <data_dir>/wasm-cache.
	CompileCache string `yaml:"compile_cache"`
}

// CA is the configuration of an organisation's CA service.
type CA struct {
	Format int    `yaml:"format"`
	Name   string `yaml:"name"`
	Org    string `yaml:"org"`
	MSPID  string `yaml:"msp_id"`
	// Home is the CA's directory (ca-cert.pem, ca-key.pem, registry.json).
	Home string `yaml:"home"`
	// TLS is the CA's transport certificate and key; default the CA home's
	// tls-cert.pem and tls-key.pem.
	TLS           KeyPair       `yaml:"tls"`
	Listen        Listen        `yaml:"listen"`
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	Log           Log           `yaml:"log"`
}

// EnsureDefaults fills unset fields with their documented defaults.
func (n *Node) EnsureDefaults() {
	if n.CRLRefresh == 0 {
		n.CRLRefresh = 5 * time.Second
	}
	if n.ShutdownGrace == 0 {
		n.ShutdownGrace = 10 * time.Second
	}
	if n.GCPercent == 0 {
		n.GCPercent = 200
	}
	n.Log.ensureDefaults()
}

// EnsureDefaults fills unset fields with their documented defaults.
func (c *CA) EnsureDefaults() {
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.TLS.Cert == "" && c.Home != "" {
		c.TLS.Cert = filepath.Join(c.Home, "tls-cert.pem")
	}
	if c.TLS.Key == "" && c.Home != "" {
		c.TLS.Key = filepath.Join(c.Home, "tls-key.pem")
	}
	c.Log.ensureDefaults()
}

func (l *Log) ensureDefaults() {
	if l.Level == "" {
		l.Level = "info"
	}
	if l.Format == "" {
		l.Format = "json"
	}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// problems collects validation failures, each naming a field and the fix.
type problems struct {
	file string
	errs []error
}

func (p *problems) add(field, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{File: p.file, Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// FieldError is one problem in a configuration file.
type FieldError struct {
	File    string
	Field   string
	Problem string
}

func (e *FieldError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("config field %s: %s", e.Field, e.Problem)
	}
	return fmt.Sprintf("config %s: field %s: %s", e.File, e.Field, e.Problem)
}

// Validate reports every problem in the configuration, each as a FieldError.
// file is used only in messages.
func (n *Node) Validate(file string) error {
	p := &problems{file: file}
	checkFormat(p, n.Format)
	if !namePattern.MatchString(n.Name) {
		p.add("name", "%q is not a valid node name: use letters, digits, '.', '_' or '-' (e.g. peer0.org1)", n.Name)
	}
	if n.Role != RolePeer && n.Role != RoleOrderer {
		p.add("role", "%q: must be %q or %q", n.Role, RolePeer, RoleOrderer)
	}
	if n.Org == "" {
		p.add("org", "missing: set the organisation's name, e.g. Org1")
	}
	if n.MSPID == "" {
		p.add("msp_id", "missing: set the organisation's MSP ID, e.g. Org1MSP")
	}
	checkKeyPair(p, "identity", n.Identity)
	checkKeyPair(p, "tls", n.TLS)
	checkAddress(p, "listen.api", n.Listen.API, true)
	if n.Listen.P2P != "" {
		checkAddress(p, "listen.p2p", n.Listen.P2P, true)
	}
	if n.Listen.P2PAdvertise != "" {
		checkAddress(p, "listen.p2p_advertise", n.Listen.P2PAdvertise, false)
	}
	for field, v := range map[string]int64{"enclave.internal_cache_bytes": n.Enclave.InternalCacheBytes, "enclave.external_cache_bytes": n.Enclave.ExternalCacheBytes} {
		if v < -1 {
			p.add(field, "%d: use a size in bytes, 0 for the default or -1 to disable the cache", v)
		}
	}
	if n.Enclave.EcallBatch < 0 || n.Enclave.EcallBatch > wire.MaxBatchFrames {
		p.add("enclave.ecall_batch", "%d: use 1 to %d, or 0 for the default", n.Enclave.EcallBatch, wire.MaxBatchFrames)
	}
	if n.Genesis == "" {
		p.add("genesis", "missing: set the channel's genesis block file (made by `folio network up`)")
	}
	if n.DataDir == "" {
		p.add("data_dir", "missing: set a directory for the node's databases")
	}
	if len(n.Consortium) == 0 {
		p.add("consortium", "empty: list every organisation (name, msp_id, root_cert)")
	}
	seen := map[string]bool{}
	ownListed := false
	for i, o := range n.Consortium {
		f := fmt.Sprintf("consortium[%d]", i)
		if o.Name == "" || o.MSPID == "" {
			p.add(f, "needs name and msp_id")
		}
		if seen[o.MSPID] {
			p.add(f+".msp_id", "%q listed twice", o.MSPID)
		}
		seen[o.MSPID] = true
		if o.RootCert == "" {
			p.add(f+".root_cert", "missing: set the organisation's root CA certificate file")
		}
		if o.CAAddress != "" {
			checkAddress(p, f+".ca_address", o.CAAddress, false)
		}
		if o.MSPID == n.MSPID {
			ownListed = true
		}
	}
	if n.MSPID != "" && len(n.Consortium) > 0 && !ownListed {
		p.add("msp_id", "%q is not among the consortium's organisations", n.MSPID)
	}
	for i, e := range n.Orderers {
		checkEndpoint(p, fmt.Sprintf("orderers[%d]", i), e)
	}
	for i, e := range n.Peers {
		checkEndpoint(p, fmt.Sprintf("peers[%d]", i), e)
	}
	if n.CRLRefresh < 0 {
		p.add("crl_refresh", "must not be negative")
	}
	if n.ShutdownGrace < 0 {
		p.add("shutdown_grace", "must not be negative")
	}
	if n.GCPercent < -1 {
		p.add("gc_percent", "%d: use -1 (GC off), or a positive percentage such as 100", n.GCPercent)
	}
	checkLog(p, n.Log)
	return p.err()
}

// Validate reports every problem in a CA configuration.
func (c *CA) Validate(file string) error {
	p := &problems{file: file}
	checkFormat(p, c.Format)
	if !namePattern.MatchString(c.Name) {
		p.add("name", "%q is not a valid name (e.g. ca.org1)", c.Name)
	}
	if c.Org == "" {
		p.add("org", "missing: set the organisation's name")
	}
	if c.MSPID == "" {
		p.add("msp_id", "missing: set the organisation's MSP ID")
	}
	if c.Home == "" {
		p.add("home", "missing: set the CA's directory")
	}
	checkKeyPair(p, "tls", c.TLS)
	checkAddress(p, "listen.api", c.Listen.API, true)
	checkLog(p, c.Log)
	return p.err()
}

func checkFormat(p *problems, f int) {
	switch {
	case f == 0:
		p.add("format", "missing: add `format: %d`", Format)
	case f > Format:
		p.add("format", "%d was written by a newer Folio (this build reads up to %d): upgrade folio", f, Format)
	case f < 0:
		p.add("format", "%d is not a format version", f)
	}
}

func checkKeyPair(p *problems, field string, kp KeyPair) {
	if kp.Cert == "" {
		p.add(field+".cert", "missing: set the PEM certificate file")
	}
	if kp.Key == "" {
		p.add(field+".key", "missing: set the PEM private key file")
	}
}

func checkAddress(p *problems, field, addr string, listen bool) {
	if addr == "" {
		p.add(field, "missing: set host:port, e.g. 127.0.0.1:7051")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(field, "%q is not host:port: %v", addr, err)
		return
	}
	if port == "" || (port == "0" && !listen) {
		p.add(field, "%q has no port", addr)
	}
	if host == "" && !listen {
		p.add(field, "%q has no host", addr)
	}
}

func checkEndpoint(p *problems, field string, e Endpoint) {
	if e.Name == "" {
		p.add(field+".name", "missing")
	}
	checkAddress(p, field+".api", e.API, false)
	if e.P2P != "" {
		checkAddress(p, field+".p2p", e.P2P, false)
	}
	if e.NodeID != "" && !nodeIDPattern.MatchString(e.NodeID) {
		p.add(field+".node_id", "%q: want 64 lowercase hex digits (SHA-256 of the node's public key)", e.NodeID)
	}
}

var nodeIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func checkLog(p *problems, l Log) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q: must be debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		p.add("log.format", "%q: must be text or json", l.Format)
	}
}

// decodeStrict decodes YAML refusing unknown fields, so a typo is an error
// rather than a silently ignored setting.
func decodeStrict(file string, data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return fmt.Errorf("config %s: %s", file, msg)
	}
	return nil
}

// ParseNode decodes a node configuration, applies overrides, resolves
// relative paths against baseDir (the config file's directory), fills
// defaults and validates.
func ParseNode(file string, data []byte, overrides map[string]string) (*Node, error) {
	var n Node
	if err := decodeStrict(file, data, &n); err != nil {
		return nil, err
	}
	if err := Apply(&n, overrides); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	base := filepath.Dir(file)
	for _, p := range []*string{&n.Identity.Cert, &n.Identity.Key, &n.TLS.Cert, &n.TLS.Key, &n.DataDir, &n.Genesis, &n.Enclave.StateKey, &n.Enclave.CompileCache} {
		*p = resolve(base, *p)
	}
	for i := range n.Consortium {
		n.Consortium[i].RootCert = resolve(base, n.Consortium[i].RootCert)
	}
	n.EnsureDefaults()
	if err := n.Validate(file); err != nil {
		return nil, err
	}
	return &n, nil
}

// ParseCA decodes a CA configuration like ParseNode.
func ParseCA(file string, data []byte, overrides map[string]string) (*CA, error) {
	var c CA
	if err := decodeStrict(file, data, &c); err != nil {
		return nil, err
	}
	if err := Apply(&c, overrides); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	base := filepath.Dir(file)
	for _, p := range []*string{&c.Home, &c.TLS.Cert, &c.TLS.Key} {
		*p = resolve(base, *p)
	}
	c.EnsureDefaults()
	if err := c.Validate(file); err != nil {
		return nil, err
	}
	return &c, nil
}

// Marshal encodes a configuration as YAML.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}
