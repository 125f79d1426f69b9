package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
)

// PeerSpec declares a node this host wants a session with.
type PeerSpec struct {
	// NodeID is the node's key ID (64 lowercase hex). Optional when Addr is
	// set: it is then learned from the first handshake, and any node of the
	// consortium answering at Addr is accepted.
	NodeID string
	// Name, when set, must be the node's certificate name.
	Name string
	// Addr is the host:port to dial. Empty when the node is dial-only: this
	// host then waits for it to dial in and never dials it.
	Addr string
}

// want is a node this host keeps a session with.
type want struct {
	spec PeerSpec
	// learned is the node ID found by the first handshake when
	// spec.NodeID is empty.
	learned string
	cancel  context.CancelFunc
	wake    chan struct{}
}

func (w *want) nodeID() string {
	if w.spec.NodeID != "" {
		return w.spec.NodeID
	}
	return w.learned
}

var nodeIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// AddPeer declares a node to keep a session with. The host dials it (if
// spec.Addr is set) until a session exists, and again with backoff and
// jitter whenever it has none. Declaring the same node again replaces its
// spec.
func (h *Host) AddPeer(spec PeerSpec) error {
	if spec.NodeID != "" && !nodeIDPattern.MatchString(spec.NodeID) {
		return fmt.Errorf("p2p: peer node ID %q is not 64 lowercase hex characters", spec.NodeID)
	}
	if spec.NodeID == "" && spec.Addr == "" {
		return errors.New("p2p: a peer needs a node ID or an address")
	}
	if spec.NodeID == h.id {
		return fmt.Errorf("p2p: %w: peer is this node", ErrSelf)
	}
	if spec.Addr != "" {
		if _, _, err := net.SplitHostPort(spec.Addr); err != nil {
			return fmt.Errorf("p2p: peer address %q: %w", spec.Addr, err)
		}
	}
	key := wantKey(spec.NodeID, spec.Addr)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.state >= stateStopping {
		return ErrClosed
	}
	if old := h.mu.wants[key]; old != nil {
		if old.spec == spec {
			return nil
		}
		if old.cancel != nil {
			old.cancel()
		}
	}
	w := &want{spec: spec, wake: make(chan struct{}, 1)}
	h.mu.wants[key] = w
	if h.mu.state == stateRunning {
		h.startDialLoopLocked(w)
	}
	return nil
}

// RemovePeer stops keeping a session with a node (named by node ID, or
// by address if it was declared without one) and retires the sessions to
// it gracefully. The node may still open a session to this host.
func (h *Host) RemovePeer(idOrAddr string) error {
	key := wantKey(idOrAddr, idOrAddr)
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.mu.wants[key]
	if w == nil {
		return fmt.Errorf("p2p: no peer %q declared", idOrAddr)
	}
	delete(h.mu.wants, key)
	if w.cancel != nil {
		w.cancel()
	}
	if id := w.nodeID(); id != "" {
		h.applyLocked(h.mu.table.removePeer(id))
	}
	return nil
}

func wantKey(nodeID, addr string) string {
	if nodeIDPattern.MatchString(nodeID) {
		return nodeID
	}
	return "addr:" + addr
}
