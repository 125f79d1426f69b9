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
	// API is host:port of the node's RPC listener (mutual TLS).
	API string `yaml:"api"`
	// Operations is host:port of the operations listener: /metrics,
	// /healthz, /readyz and /debug/pprof. On a loopback address it serves
	// plain HTTP to local tools; on any other address it requires mutual
	// TLS with a client certificate of an admin. Default 127.0.0.1:0 (a
	// free loopback port, logged at start).
	Operations string `yaml:"operations"`
	// OperationsTLS requires mutual TLS with an admin's certificate on the
	// operations listener even on loopback (a host shared with untrusted
	// users). Off loopback it is always required.
	OperationsTLS bool `yaml:"operations_tls"`
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
	// Limits bound what clients and other nodes can make the node hold.
	Limits Limits `yaml:"limits"`
	// Release bounds a peer's per-client state of timed releases (ignored
	// on orderers).
	Release Release `yaml:"release"`
	Log     Log     `yaml:"log"`
}

// Limits bound what any one client can make a listener hold: each has a
// default that a node serving the documented workloads never reaches, and
// a request refused by one gets a resource_exhausted error naming the
// setting (docs/configuration.md, "Limits").
type Limits struct {
	// MaxMessageBytes bounds one RPC request message after decompression,
	// and any other request body, except the timed-release chunk uploads
	// that are larger by design (bounded by their manifest). Default 4 MiB.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxHeaderBytes bounds a request's headers. Default 64 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxConcurrentStreams bounds the requests one HTTP/2 connection may
	// have open at once; more are refused with REFUSED_STREAM. Default 250.
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
	// MaxConnections bounds the open connections of each listener; more
	// are closed as soon as they are accepted. Default 4096.
	MaxConnections int `yaml:"max_connections"`
	// MaxRequests bounds the requests (RPCs, streams, long polls) a
	// listener serves at once, and MaxRequestsPerClient those of one
	// identity (on a CA, of one IP address), over all its connections.
	// Defaults 16384 and 4096.
	MaxRequests          int `yaml:"max_requests"`
	MaxRequestsPerClient int `yaml:"max_requests_per_client"`
	// HeaderTimeout bounds the TLS handshake and the request headers of a
	// new connection (slow-loris). Default 10s.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// BodyTimeout bounds the reading of a request body; uploads larger by
	// design get BodyTimeout more for every further MiB. Default 30s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// IdleTimeout closes a connection on which no request arrived for this
	// long. Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// WriteTimeout closes an HTTP/2 connection that accepts no bytes for
	// this long (a client that stops reading). Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// CommitWaiters bounds the CommitStatus calls a peer holds open at
	// once, CommitWaitersPerClient those of one identity, and
	// MaxCommitWait how long one of them waits. Defaults 16384, 1024, 5m.
	CommitWaiters          int           `yaml:"commit_waiters"`
	CommitWaitersPerClient int           `yaml:"commit_waiters_per_client"`
	MaxCommitWait          time.Duration `yaml:"max_commit_wait"`
	// ReadWaiters bounds the reads a peer holds open while they wait for
	// its ledger to reach the height they need (min_height, linearizable),
	// ReadWaitersPerClient those of one identity, and MaxReadWait how long
	// one of them waits. Defaults 4096, 256, 5s.
	ReadWaiters          int           `yaml:"read_waiters"`
	ReadWaitersPerClient int           `yaml:"read_waiters_per_client"`
	MaxReadWait          time.Duration `yaml:"max_read_wait"`
	// P2PMaxMessageBytes bounds one message on a node-to-node session. It
	// must hold the largest block: the channel's block max bytes plus one
	// envelope. Default 16 MiB.
	P2PMaxMessageBytes int `yaml:"p2p_max_message_bytes"`
	// P2PMaxStreamsPerSession bounds the streams another node may have
	// open on its session with this one. Default 256.
	P2PMaxStreamsPerSession int `yaml:"p2p_max_streams_per_session"`
	// P2PSessionBufferBytes bounds the bytes another node can make this
	// one hold unread on one session, all streams together; a session
	// that stays over it for the session write timeout is closed.
	// Default 16 MiB.
	P2PSessionBufferBytes int `yaml:"p2p_session_buffer_bytes"`
	// P2PSessionMessageBytes bounds the bytes of the messages being
	// assembled on one session, all streams together (at least
	// P2PMaxMessageBytes, so any one message can be read). Default
	// 4 x P2PMaxMessageBytes.
	P2PSessionMessageBytes int `yaml:"p2p_session_message_bytes"`
}

// Release bounds a peer's per-client state of timed releases
// (docs/release.md). Zero takes the release service's defaults.
type Release struct {
	// MaxSubscriptionsPerClient bounds the client names one identity may
	// subscribe under, per release. Default 16.
	MaxSubscriptionsPerClient int `yaml:"max_subscriptions_per_client"`
	// MaxSubscriptions bounds the subscriptions of one release. Default 10000.
	MaxSubscriptions int `yaml:"max_subscriptions"`
	// MaxHistoryClients bounds the clients whose rate history is kept; the
	// least recently updated is dropped first. Default 10000.
	MaxHistoryClients int `yaml:"max_history_clients"`
	// HistoryTTL drops a client's rate history not updated for this long.
	// Default 720h (30 days).
	HistoryTTL time.Duration `yaml:"history_ttl"`
	// SubscriptionTTL forgets a subscription with no open stream and no
	// report for this long. Default 20s.
	SubscriptionTTL time.Duration `yaml:"subscription_ttl"`
}

// check reports negative release limits (0 takes the default; the release
// service checks the rest at start).
func (r *Release) check(p *problems) {
	for field, v := range map[string]int64{"release.max_subscriptions_per_client": int64(r.MaxSubscriptionsPerClient), "release.max_subscriptions": int64(r.MaxSubscriptions),
		"release.max_history_clients": int64(r.MaxHistoryClients), "release.history_ttl": int64(r.HistoryTTL), "release.subscription_ttl": int64(r.SubscriptionTTL)} {
		if v < 0 {
			p.add(field, "must not be negative (0 takes the default)")
		}
	}
}

// EnsureDefaults fills unset limits with their documented defaults.
func (l *Limits) EnsureDefaults() {
	setDefault(&l.MaxMessageBytes, 4<<20)
	setDefault(&l.MaxHeaderBytes, 64<<10)
	setDefault(&l.MaxConcurrentStreams, 250)
	setDefault(&l.MaxConnections, 4096)
	setDefault(&l.MaxRequests, 16384)
	setDefault(&l.MaxRequestsPerClient, 4096)
	setDefault(&l.HeaderTimeout, 10*time.Second)
	setDefault(&l.BodyTimeout, 30*time.Second)
	setDefault(&l.IdleTimeout, 2*time.Minute)
	setDefault(&l.WriteTimeout, 30*time.Second)
	setDefault(&l.CommitWaiters, 16384)
	setDefault(&l.CommitWaitersPerClient, 1024)
	setDefault(&l.MaxCommitWait, 5*time.Minute)
	setDefault(&l.ReadWaiters, 4096)
	setDefault(&l.ReadWaitersPerClient, 256)
	setDefault(&l.MaxReadWait, 5*time.Second)
	setDefault(&l.P2PMaxMessageBytes, 16<<20)
	setDefault(&l.P2PMaxStreamsPerSession, 256)
	setDefault(&l.P2PSessionBufferBytes, 16<<20)
	if l.P2PSessionMessageBytes == 0 && l.P2PMaxMessageBytes <= 1<<30/4 {
		l.P2PSessionMessageBytes = 4 * l.P2PMaxMessageBytes
	}
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p == 0 {
		*p = v
	}
}

// check reports limits out of their ranges.
func (l *Limits) check(p *problems) {
	ints := []struct {
		field     string
		v, lo, hi int
	}{
		{"limits.max_message_bytes", l.MaxMessageBytes, 64 << 10, 1 << 30},
		{"limits.max_header_bytes", l.MaxHeaderBytes, 4 << 10, 16 << 20},
		{"limits.max_concurrent_streams", l.MaxConcurrentStreams, 1, 1 << 20},
		{"limits.max_connections", l.MaxConnections, 1, 1 << 20},
		{"limits.max_requests", l.MaxRequests, 1, 1 << 24},
		{"limits.max_requests_per_client", l.MaxRequestsPerClient, 1, 1 << 24},
		{"limits.commit_waiters", l.CommitWaiters, 1, 1 << 24},
		{"limits.commit_waiters_per_client", l.CommitWaitersPerClient, 1, 1 << 24},
		{"limits.read_waiters", l.ReadWaiters, 1, 1 << 24},
		{"limits.read_waiters_per_client", l.ReadWaitersPerClient, 1, 1 << 24},
		{"limits.p2p_max_message_bytes", l.P2PMaxMessageBytes, 1 << 20, 1 << 30},
		{"limits.p2p_max_streams_per_session", l.P2PMaxStreamsPerSession, 1, 1 << 20},
		{"limits.p2p_session_buffer_bytes", l.P2PSessionBufferBytes, 4 << 20, 1 << 30},
	}
	for _, c := range ints {
		if c.v < c.lo || c.v > c.hi {
			p.add(c.field, "%d: use %d to %d, or 0 for the default", c.v, c.lo, c.hi)
		}
	}
	if l.P2PSessionMessageBytes < l.P2PMaxMessageBytes || l.P2PSessionMessageBytes > 1<<32 {
		p.add("limits.p2p_session_message_bytes", "%d: use limits.p2p_max_message_bytes (%d) to 4 GiB, or 0 for the default", l.P2PSessionMessageBytes, l.P2PMaxMessageBytes)
	}
	for field, d := range map[string]time.Duration{"limits.header_timeout": l.HeaderTimeout, "limits.body_timeout": l.BodyTimeout,
		"limits.idle_timeout": l.IdleTimeout, "limits.write_timeout": l.WriteTimeout, "limits.max_commit_wait": l.MaxCommitWait,
		"limits.max_read_wait": l.MaxReadWait} {
		if d < 0 {
			p.add(field, "%s: must not be negative (0 takes the default)", d)
		}
	}
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
	// CRLValidity is how long a revocation list the CA signs stays
	// current (its NextUpdate); the CA signs a fresh one when half of it
	// has passed, and nodes refuse an organisation's identities at
	// admission once its list is past NextUpdate. Default 168h (7 days).
	CRLValidity time.Duration `yaml:"crl_validity"`
	// Limits bound what clients can make the CA hold (the peer-only
	// fields are ignored).
	Limits Limits `yaml:"limits"`
	Log    Log    `yaml:"log"`
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
	if n.Listen.Operations == "" {
		n.Listen.Operations = DefaultOperations
	}
	n.Limits.EnsureDefaults()
	n.Log.ensureDefaults()
}

// DefaultOperations is the operations listener of a node or CA whose
// configuration names none: a free port on the loopback interface.
const DefaultOperations = "127.0.0.1:0"

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
	if c.Listen.Operations == "" {
		c.Listen.Operations = DefaultOperations
	}
	if c.CRLValidity == 0 {
		c.CRLValidity = 7 * 24 * time.Hour
	}
	c.Limits.EnsureDefaults()
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
	checkAddress(p, "listen.operations", n.Listen.Operations, true)
	n.Limits.check(p)
	n.Release.check(p)
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
	checkAddress(p, "listen.operations", c.Listen.Operations, true)
	if c.Listen.P2P != "" {
		p.add("listen.p2p", "a CA has no node-to-node sessions: remove it")
	}
	if c.CRLValidity < time.Second {
		p.add("crl_validity", "%s: use at least 1s (default 168h)", c.CRLValidity)
	}
	c.Limits.check(p)
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
