package p2p

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p/p2ptest"
)

// rogueTLS connects to addr and completes TLS 1.3 with cert (nil: none),
// without checking the server: a hand-driven client for bad inputs.
func rogueTLS(t *testing.T, addr string, cert *tls.Certificate) *tls.Conn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	conf := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, NextProtos: []string{alpnProtocol}}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(raw, conf)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("rogue TLS handshake: %v", err)
	}
	return tc
}

// helloOf builds the Hello a node would send, then lets mod tamper.
func helloOf(t *testing.T, c *p2ptest.Node, mod func(*hello)) []byte {
	t.Helper()
	h := &hello{Version: handshakeVersion, Role: c.Self.Role, MSPID: c.Self.MSPID, Cert: c.Self.Cert.Raw}
	_, _ = rand.Read(h.Nonce[:])
	id, _ := hex.DecodeString(c.Self.ID())
	copy(h.NodeID[:], id)
	if mod != nil {
		mod(h)
	}
	b, err := h.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendHello reads the server's Hello and answers with body.
func sendHello(t *testing.T, tc *tls.Conn, body []byte) {
	t.Helper()
	if _, err := readFrame(tc, maxHandshakeFrame); err != nil {
		t.Fatalf("server Hello: %v", err)
	}
	if err := writeFrame(tc, body); err != nil {
		t.Fatal(err)
	}
}

// recordHandshake lets victim dial a rogue acceptor (using the rogue's
// own valid credentials) and returns the Hello and Proof the victim sent:
// what a malicious consortium member learns from one session.
func recordHandshake(t *testing.T, victim *testHost, rogue *p2ptest.Node, v *identity.Verifier) (helloBytes, proofBytes []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			done <- err
			return
		}
		defer raw.Close()
		_, _, err = victim.hs.run(context.Background(), raw, DialedBySelf, 1, expectation{})
		done <- err
	}()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tc := tls.Server(raw, newTLSConfig(staticTLS(rogue.TLS), v))
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if helloBytes, err = readFrame(tc, maxHandshakeFrame); err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(tc, helloOf(t, rogue, nil)); err != nil {
		t.Fatal(err)
	}
	if proofBytes, err = readFrame(tc, maxHandshakeFrame); err != nil {
		t.Fatal(err)
	}
	_ = tc.Close()
	if err := <-done; err == nil {
		t.Fatal("victim completed a handshake with a rogue that sent no Proof")
	}
	return helloBytes, proofBytes
}

// TestRefusedConnections feeds a listening node every kind of bad
// connection. Each is closed quickly, counted under its reason, and the
// node's legitimate session keeps working throughout.
func TestRefusedConnections(t *testing.T) {
	c := newConsortium(t, 2)
	other := newConsortium(t, 2) // same organisation names, different CAs
	const timeout = 700 * time.Millisecond
	srv := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), map[string]Handler{"echo": echo}, func(o *Options) {
		o.HandshakeTimeout = timeout
	})
	friend := startHost(t, c, issue(t, c, 1, "peer0.org2", identity.RolePeer), map[string]Handler{"echo": echo}, nil)
	must(t, friend.AddPeer(srv.spec()))
	srv.waitUp(t, friend)
	before := srv.single(t, friend)

	mallory := issue(t, c, 1, "peer1.org2", identity.RolePeer) // a legitimate member gone bad
	outsider := issue(t, other, 0, "peer0.org1", identity.RolePeer)
	client, err := c.IssueNode(0, "user1", identity.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	helloBytes, proofBytes := recordHandshake(t, friend, mallory, c.Verifier)
	addr := srv.Addr().String()

	cases := []struct {
		name   string
		reason string
		attack func(t *testing.T) net.Conn
	}{
		{"garbage before TLS", "tls", func(t *testing.T) net.Conn {
			raw, err := net.Dial("tcp", addr)
			must(t, err)
			_, _ = raw.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			return raw
		}},
		{"no client certificate", "not_member", func(t *testing.T) net.Conn {
			return rogueTLS(t, addr, nil)
		}},
		{"certificate of another consortium", "not_member", func(t *testing.T) net.Conn {
			return rogueTLS(t, addr, &outsider.TLS)
		}},
		{"client certificate, not a node", "not_node", func(t *testing.T) net.Conn {
			signing := tls.Certificate{Certificate: [][]byte{client.Self.Cert.Raw}, PrivateKey: client.Self.Key(), Leaf: client.Self.Cert}
			return rogueTLS(t, addr, &signing)
		}},
		// A server-auth certificate with the client role is no identity at
		// all (identity.ErrServerUsage): only nodes serve TLS under a role.
		{"client role with a server certificate", "not_member", func(t *testing.T) net.Conn {
			return rogueTLS(t, addr, &client.TLS)
		}},
		{"garbage after TLS", "malformed", func(t *testing.T) net.Conn {
			tc := rogueTLS(t, addr, &mallory.TLS)
			sendHello(t, tc, []byte("this is not a Folio handshake"))
			return tc
		}},
		{"oversized frame", "frame_too_large", func(t *testing.T) net.Conn {
			tc := rogueTLS(t, addr, &mallory.TLS)
			_, _ = tc.Write(binary.BigEndian.AppendUint32(nil, 1<<31))
			return tc
		}},
		{"unsupported version", "version", func(t *testing.T) net.Conn {
			tc := rogueTLS(t, addr, &mallory.TLS)
			b := helloOf(t, mallory, nil)
			b[len(handshakeMagic)] = 2
			sendHello(t, tc, b)
			return tc
		}},
		{"forged node ID", "node_id_mismatch", func(t *testing.T) net.Conn {
			tc := rogueTLS(t, addr, &mallory.TLS)
			sendHello(t, tc, helloOf(t, mallory, func(h *hello) {
				id, _ := hex.DecodeString(friend.ID())
				copy(h.NodeID[:], id)
			}))
			return tc
		}},
		{"another node's certificate", "identity_mismatch", func(t *testing.T) net.Conn {
			tc := rogueTLS(t, addr, &mallory.TLS)
			sendHello(t, tc, helloOf(t, friend.creds, nil))
			return tc
		}},
		{"claims another role", "identity_mismatch", func(t *testing.T) net.Conn {
			tc := rogueTLS(t, addr, &mallory.TLS)
			sendHello(t, tc, helloOf(t, mallory, func(h *hello) { h.Role = identity.RoleOrderer }))
			return tc
		}},
		{"replayed handshake under its own TLS identity", "identity_mismatch", func(t *testing.T) net.Conn {
			tc := rogueTLS(t, addr, &mallory.TLS)
			sendHello(t, tc, helloBytes)
			return tc
		}},
		{"replayed handshake with a stolen TLS key", "bad_signature", func(t *testing.T) net.Conn {
			tc := rogueTLS(t, addr, &friend.creds.TLS)
			sendHello(t, tc, helloBytes)
			if _, err := readFrame(tc, maxHandshakeFrame); err != nil { // the server's Proof
				t.Fatalf("server Proof: %v", err)
			}
			must(t, writeFrame(tc, proofBytes))
			return tc
		}},
		{"slowloris before TLS", "timeout", func(t *testing.T) net.Conn {
			raw, err := net.Dial("tcp", addr)
			must(t, err)
			_, _ = raw.Write([]byte{0x16, 0x03}) // the first bytes of a TLS record, then nothing
			return raw
		}},
		{"slowloris after TLS", "timeout", func(t *testing.T) net.Conn {
			tc := rogueTLS(t, addr, &mallory.TLS)
			_, _ = tc.Write([]byte{0, 0}) // half a frame header, then nothing
			return tc
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := srv.failures(tc.reason)
			limit := handshakeRefusal(nil, tc.reason) // a refusal because of a limit, or ""
			var refused float64
			if limit != "" {
				refused = srv.refusals(limit)
			}
			start := time.Now()
			conn := tc.attack(t)
			took := expectClosed(t, conn, conn.SetReadDeadline, timeout+5*time.Second)
			if got := srv.failures(tc.reason); got != n+1 {
				t.Errorf("failures{reason=%s} went from %v to %v", tc.reason, n, got)
			}
			if limit != "" {
				if got := srv.refusals(limit); got != refused+1 {
					t.Errorf("refused{reason=%s} went from %v to %v", limit, refused, got)
				}
			}
			if tc.reason == "timeout" && time.Since(start) < timeout {
				t.Errorf("closed after %s, before the handshake timeout", took)
			}
			roundTrip(t, friend, srv, "still here after "+tc.name)
		})
	}
	if after := srv.single(t, friend); after.Conn != before.Conn {
		t.Fatalf("the legitimate session was replaced: %s -> %s", before.Conn, after.Conn)
	}
}

// signingAsTLS is a node that presents its signing certificate (client
// auth only, no server auth) as its TLS certificate.
func signingAsTLS(n *p2ptest.Node) *p2ptest.Node {
	return &p2ptest.Node{Self: n.Self, TLSKey: n.Self.Key(),
		TLS: tls.Certificate{Certificate: [][]byte{n.Self.Cert.Raw}, PrivateKey: n.Self.Key(), Leaf: n.Self.Cert}}
}

// TestDialerWantsServerAuth: a node that serves p2p TLS with a certificate
// lacking the server-auth usage (here its own signing certificate: a valid
// peer identity, client auth only) is refused by every node that dials it.
// Before, the dialer judged only the MSP identity and role, and this
// session came up. The same certificate still works on the side it was
// issued for: the rogue can dial out, because an acceptor wants client
// auth, which it has.
func TestDialerWantsServerAuth(t *testing.T) {
	c := newConsortium(t, 1)
	victim := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), map[string]Handler{"echo": echo}, nil)
	rogue := startHost(t, c, signingAsTLS(issue(t, c, 0, "peer1.org1", identity.RolePeer)), map[string]Handler{"echo": echo}, nil)
	if usages := rogue.creds.TLS.Leaf.ExtKeyUsage; len(usages) != 1 || usages[0] != x509.ExtKeyUsageClientAuth {
		t.Fatalf("rogue TLS usages %v, want client auth only", usages)
	}
	n := victim.failures("not_node")
	err := victim.dialOnce(context.Background(), &want{spec: rogue.spec()})
	if !errors.Is(err, ErrNotNode) || !errors.Is(err, identity.ErrKeyUsage) || !strings.Contains(err.Error(), "server-auth") {
		t.Fatalf("dialing a server without server auth: %v, want ErrNotNode wrapping ErrKeyUsage", err)
	}
	if got := victim.failures("not_node"); got != n+1 {
		t.Errorf("failures{reason=not_node} went from %v to %v", n, got)
	}
	if len(victim.Sessions()) != 0 {
		t.Fatalf("sessions after the refused dial: %v", victim.Sessions())
	}
	// Dialing out with it, the rogue is a TLS client: accepted.
	must(t, rogue.AddPeer(victim.spec()))
	victim.waitUp(t, rogue)
}

// TestIdentifyTLSPeerUsages: the usage wanted of the TLS peer depends on
// the side; a node's TLS certificate has both.
func TestIdentifyTLSPeerUsages(t *testing.T) {
	c := newConsortium(t, 1)
	n := issue(t, c, 0, "peer0.org1", identity.RolePeer)
	state := func(cert *x509.Certificate) tls.ConnectionState {
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := identifyTLSPeer(c.Verifier, state(n.TLS.Leaf), u); err != nil {
			t.Errorf("node TLS certificate for usage %v: %v", u, err)
		}
	}
	if _, err := identifyTLSPeer(c.Verifier, state(n.Self.Cert), x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("signing certificate as a TLS client: %v", err)
	}
	if _, err := identifyTLSPeer(c.Verifier, state(n.Self.Cert), x509.ExtKeyUsageServerAuth); !errors.Is(err, ErrNotNode) || !errors.Is(err, identity.ErrKeyUsage) {
		t.Errorf("signing certificate as a TLS server: %v", err)
	}
}

// TestUnexpectedPeerAndSelf: dialing an address where another node (or
// this node itself) answers is refused.
func TestUnexpectedPeerAndSelf(t *testing.T) {
	c := newConsortium(t, 1)
	a := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), nil, nil)
	b := startHost(t, c, issue(t, c, 0, "peer1.org1", identity.RolePeer), nil, nil)
	x := issue(t, c, 0, "peer2.org1", identity.RolePeer)
	w := &want{spec: PeerSpec{NodeID: x.Self.ID(), Addr: b.Addr().String()}}
	if err := a.dialOnce(context.Background(), w); !errors.Is(err, ErrUnexpectedPeer) {
		t.Fatalf("dial b expecting x: %v", err)
	}
	self := &want{spec: PeerSpec{Addr: a.Addr().String()}}
	if err := a.dialOnce(context.Background(), self); !errors.Is(err, ErrSelf) {
		t.Fatalf("dial self: %v", err)
	}
	if err := a.AddPeer(PeerSpec{NodeID: a.ID(), Addr: "127.0.0.1:1"}); !errors.Is(err, ErrSelf) {
		t.Fatalf("AddPeer(self): %v", err)
	}
	if len(a.Sessions()) != 0 || len(b.Sessions()) != 0 {
		t.Fatalf("sessions after refused dials: %v / %v", a.Sessions(), b.Sessions())
	}
}

// TestConnectionFlood: a peer opens a thousand connections and never
// speaks. At most MaxPendingHandshakes are held (each until the handshake
// timeout); the rest are closed at once. The existing session keeps
// working during the flood and a new node can join after it.
func TestConnectionFlood(t *testing.T) {
	c := newConsortium(t, 1)
	const pending, flood = 16, 1000
	srv := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), map[string]Handler{"echo": echo}, func(o *Options) {
		o.MaxPendingHandshakes = pending
		o.HandshakeTimeout = 2 * time.Second
	})
	friend := startHost(t, c, issue(t, c, 0, "peer1.org1", identity.RolePeer), map[string]Handler{"echo": echo}, nil)
	must(t, friend.AddPeer(srv.spec()))
	srv.waitUp(t, friend)

	conns := make([]net.Conn, 0, flood)
	for range flood {
		raw, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, raw)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	roundTrip(t, friend, srv, "during the flood")
	// Every flood connection is closed by the server: the excess at once
	// (too_many_handshakes), the held ones at the handshake timeout.
	for _, raw := range conns {
		expectClosed(t, raw, raw.SetReadDeadline, 10*time.Second)
	}
	refused, timedOut := srv.failures("too_many_handshakes"), srv.failures("timeout")
	if refused+timedOut != flood || timedOut > flood-refused || refused < flood-3*pending {
		t.Fatalf("%v refused at once, %v timed out, of %d (limit %d pending)", refused, timedOut, flood, pending)
	}
	if a, b := srv.refusals(refusedPendingHandshakes), srv.refusals(refusedHandshakeTimeout); a != refused || b != timedOut {
		t.Fatalf("refused{%s} = %v, refused{%s} = %v; the handshake failures say %v and %v",
			refusedPendingHandshakes, a, refusedHandshakeTimeout, b, refused, timedOut)
	}
	srv.mu.Lock()
	left := srv.mu.pending
	srv.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d handshakes still pending after the flood", left)
	}
	late := startHost(t, c, issue(t, c, 0, "peer2.org1", identity.RolePeer), map[string]Handler{"echo": echo}, nil)
	must(t, late.AddPeer(srv.spec()))
	late.waitUp(t, srv)
	roundTrip(t, late, srv, "after the flood")
	roundTrip(t, friend, srv, "after the flood")
}
