//go:build !linux

package releasebench

import (
	"context"
	"errors"
	"net"
)

// ErrNotRoot: namespaces and tc need root.
var ErrNotRoot = errors.New("the experiment creates network namespaces and tc qdiscs: it must run as root")

// Topology is unsupported off Linux.
type Topology struct{}

// CheckTools reports that the experiment needs Linux.
func CheckTools() error {
	return errors.New("the experiment needs Linux network namespaces and tc")
}

// Prepare fails off Linux.
func Prepare(context.Context, string, []float64) (*Topology, error) { return nil, CheckTools() }

// Close does nothing.
func (t *Topology) Close() error { return nil }

// Dialer is never called off Linux.
func (t *Topology) Dialer(int, func(string) (string, bool)) func(context.Context, string, string) (net.Conn, error) {
	return nil
}

func addHostAddr(context.Context) error { return CheckTools() }
