package releasebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// hostAddr is the root namespace address the client namespaces reach the
// peers at (on lo, routed through each veth).
const hostAddr = "10.200.0.1"

// relay forwards TCP connections from listen to target, bytes only (TLS
// stays end to end). It stops when ctx ends; Wait waits for its
// goroutines.
type relay struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
}

func startRelay(ctx context.Context, listen, target string) (*relay, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp4", listen)
	if err != nil {
		return nil, fmt.Errorf("relay %s -> %s: %w", listen, target, err)
	}
	r := &relay{ln: ln, target: target}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		<-ctx.Done()
		ln.Close()
	}()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
					return
				}
				continue
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.pipe(ctx, c)
			}()
		}
	}()
	return r, nil
}

func (r *relay) pipe(ctx context.Context, c net.Conn) {
	defer c.Close()
	var d net.Dialer
	up, err := d.DialContext(ctx, "tcp4", r.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	select {
	case <-ctx.Done():
	case <-done:
		<-done
	}
}

// Wait waits until the relay's goroutines returned (after ctx ended).
func (r *relay) Wait() { r.wg.Wait() }
