package p2p

import (
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/identity"
)

func TestOptions(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	if o.MaxSessions != 256 || o.IdleTimeout != 45*time.Second || o.StreamWindowBytes != 4<<20 || o.SessionBufferBytes != 16<<20 || o.SessionMessageBytes != 64<<20 || o.Logger == nil {
		t.Fatalf("defaults: %+v", o)
	}
	err := o.Validate()
	for _, field := range []string{"Self", "Verifier", "TLS"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Fatalf("missing %s not reported: %v", field, err)
		}
	}

	c := newConsortium(t, 2)
	n := issue(t, c, 0, "peer0.org1", identity.RolePeer)
	other := issue(t, c, 0, "peer1.org1", identity.RolePeer)
	client, err := c.IssueNode(0, "user1", identity.RoleClient)
	must(t, err)
	orderer := issue(t, c, 0, "peer0.org1", identity.RoleOrderer)
	base := func() Options { return Options{Self: n.Self, TLS: n.TLS, Verifier: c.Verifier} }
	cases := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"TLS certificate of another node", func(o *Options) { o.TLS = other.TLS }, "certificate is for"},
		{"client identity", func(o *Options) { o.Self = client.Self; o.TLS = client.TLS }, "sessions are for peers and orderers"},
		{"TLS certificate with another role", func(o *Options) { o.TLS = orderer.TLS }, "TLS certificate is"},
		{"bad listen address", func(o *Options) { o.ListenAddr = "nohostport" }, "ListenAddr"},
		{"idle timeout not above keepalive", func(o *Options) { o.KeepAliveInterval = time.Minute; o.IdleTimeout = time.Second }, "IdleTimeout"},
		{"small window", func(o *Options) { o.StreamWindowBytes = 1024 }, "StreamWindowBytes"},
		{"session buffer below the window", func(o *Options) { o.SessionBufferBytes = 1 << 20 }, "SessionBufferBytes"},
		{"message budget below one message", func(o *Options) { o.SessionMessageBytes = 1 << 20 }, "SessionMessageBytes"},
		{"one session per peer", func(o *Options) { o.MaxSessionsPerPeer = 1 }, "MaxSessionsPerPeer"},
		{"backoff range", func(o *Options) { o.BackoffMin = time.Minute; o.BackoffMax = time.Second }, "BackoffMax"},
		{"huge frames", func(o *Options) { o.MaxFrameBytes = 2 << 30 }, "MaxFrameBytes"},
	}
	for _, tc := range cases {
		o := base()
		tc.mod(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New returned %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	h, err := New(base())
	must(t, err)
	if h.ID() != n.Self.ID() || len(h.ID()) != 64 {
		t.Fatalf("node ID %q", h.ID())
	}
	if err := h.AddPeer(PeerSpec{}); err == nil {
		t.Fatal("AddPeer accepted a peer with neither ID nor address")
	}
	if err := h.AddPeer(PeerSpec{NodeID: "ABC"}); err == nil {
		t.Fatal("AddPeer accepted a malformed node ID")
	}
	if err := h.RemovePeer(other.Self.ID()); err == nil {
		t.Fatal("RemovePeer of an undeclared peer succeeded")
	}
}
