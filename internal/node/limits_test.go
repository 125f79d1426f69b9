package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/attack"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/identity"
)

func testGuard(t *testing.T) *guard {
	t.Helper()
	lim := config.Limits{MaxMessageBytes: 64 << 10, BodyTimeout: 500 * time.Millisecond}
	lim.EnsureDefaults()
	return newGuard(lim, newMetrics("n", "peer", "Org1"), quiet,
		func(r *http.Request) (int64, bool) { return 256 << 10, strings.HasPrefix(r.URL.Path, "/upload") }, remoteIP)
}

// TestGuardBoundsBodies: a body announced too large is refused before it
// is read (Connect's resource_exhausted on RPC paths, 413 elsewhere), one
// that turns out too large fails the handler's read with the setting
// named, a body within the limit reaches the handler whole, a route larger
// by design gets its own bound, a body that does not arrive in time fails
// with deadline_exceeded, and every refusal is counted by setting.
func TestGuardBoundsBodies(t *testing.T) {
	g := testGuard(t)
	var got []byte
	var readErr error
	srv := httptest.NewUnstartedServer(g.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, readErr = io.ReadAll(r.Body)
		if readErr != nil {
			http.Error(w, readErr.Error(), http.StatusBadRequest)
		}
	})))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	hc := srv.Client()
	send := func(path string, body []byte, withLength bool, contentType string) (int, string) {
		var r io.Reader = bytes.NewReader(body)
		if !withLength {
			r = io.MultiReader(r)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, r)
		req.Header.Set("Content-Type", contentType)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	big := make([]byte, 100<<10)

	code, msg := send("/folio.v1.GatewayService/Endorse", big, true, "application/proto")
	if code != http.StatusTooManyRequests || !strings.Contains(msg, "resource_exhausted") || !strings.Contains(msg, settingMessageBytes) {
		t.Errorf("RPC body announced too large: %d %q", code, msg)
	}
	got = nil
	code, msg = send("/not/an/rpc", big, true, "application/json")
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, settingMessageBytes) || got != nil {
		t.Errorf("non-RPC body announced too large: %d %q (handler read %d bytes)", code, msg, len(got))
	}
	code, msg = send("/x", big, false, "application/proto")
	if code != http.StatusBadRequest || !strings.Contains(msg, settingMessageBytes) {
		t.Errorf("unannounced body too large: %d %q", code, msg)
	}
	exact := bytes.Repeat([]byte{7}, 64<<10+envelopeBytes)
	if code, msg = send("/x", exact, false, "application/proto"); code != http.StatusOK || !bytes.Equal(got, exact) {
		t.Errorf("body at the limit: %d %q, handler got %d of %d bytes", code, msg, len(got), len(exact))
	}
	if code, msg = send("/upload/1", big, true, "application/octet-stream"); code != http.StatusOK || len(got) != len(big) {
		t.Errorf("large-by-design route: %d %q", code, msg)
	}
	if code, msg = send("/upload/1", make([]byte, 300<<10), false, "application/octet-stream"); code != http.StatusBadRequest {
		t.Errorf("large-by-design route over its own bound: %d %q", code, msg)
	}
	if n := testutil.ToFloat64(g.m.limitRefusals.WithLabelValues(settingMessageBytes)); n != 4 {
		t.Errorf("refusals counted: %v, want 4", n)
	}

	// A slow body: its first byte, then nothing until the client gives up.
	pr, pw := io.Pipe()
	answered := make(chan struct{})
	go func() {
		pw.Write([]byte{1})
		<-answered // the rest never comes before the server has given up
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/x", pr)
	resp, err := hc.Do(req)
	close(answered)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), settingBodyTimeout) {
		t.Errorf("slow body: %d %q", resp.StatusCode, b)
	}
	if n := testutil.ToFloat64(g.m.limitRefusals.WithLabelValues(settingBodyTimeout)); n != 1 {
		t.Errorf("body timeouts counted: %v", n)
	}
}

// TestBoundedGzipStopsAtTheLimit: the decompressor stops at the first
// bytes past the limit of a bomb inflating to 64 MiB, instead of inflating
// it all, and can be reused for a message within the limit.
func TestBoundedGzipStopsAtTheLimit(t *testing.T) {
	g := testGuard(t)
	d := &boundedGzip{g: g, max: int64(g.lim.MaxMessageBytes)}
	if err := d.Reset(bytes.NewReader(attack.GzipBomb(64 << 20))); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, d)
	if err == nil || !strings.Contains(err.Error(), settingMessageBytes) {
		t.Fatalf("bomb: %v", err)
	}
	if n > int64(g.lim.MaxMessageBytes)+64<<10 {
		t.Fatalf("inflated %d bytes before stopping; the limit is %d", n, g.lim.MaxMessageBytes)
	}
	small := attack.GzipBomb(1000)
	if err := d.Reset(bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, d); err != nil || n != 1000 {
		t.Fatalf("reused for a small message: %d %v", n, err)
	}
}

// TestConnectionLimit: connections beyond the limit are closed as they are
// accepted and counted; a closed one frees its slot.
func TestConnectionLimit(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	ln := limitConns(raw, 2, func() { refused++ })
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	a, b := <-accepted, <-accepted
	// The third was closed by the server: its read ends.
	_ = clients[2].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := clients[2].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third connection: read %v, want EOF", err)
	}
	select {
	case c := <-accepted:
		t.Fatalf("a third connection was handed to the server: %v", c.RemoteAddr())
	default:
	}
	a.Close()
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case d := <-accepted:
		d.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	b.Close()
	for _, c := range clients {
		c.Close()
	}
	if refused != 1 {
		t.Fatalf("refusals counted: %d, want 1", refused)
	}
}

// TestOperationsListenerServesAdminsOverTLS: with listen.operations_tls
// the operations listener wants mutual TLS and an admin's certificate: a
// client of the consortium gets 403, a caller without a certificate fails
// the handshake, an admin gets the metrics.
func TestOperationsListenerServesAdminsOverTLS(t *testing.T) {
	org := newTestOrg(t, "Org1")
	signKP, _ := org.issue(t, "orderer0", identity.RoleOrderer, false, time.Now(), time.Hour)
	cfg := org.nodeConfig(t, "orderer0", config.RoleOrderer, signKP)
	cfg.Listen.OperationsTLS = true
	_, user := org.issue(t, "user1", identity.RoleClient, false, time.Now(), time.Hour)
	_, admin := org.issue(t, "admin", identity.RoleAdmin, false, time.Now(), time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ops := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, ConfigFile: "test.yaml", Logger: quiet, OperationsOpen: func(a string) { ops <- a }})
	}()
	var addr string
	select {
	case addr = <-ops:
	case err := <-done:
		t.Fatalf("node stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no operations listener")
	}
	roots := x509.NewCertPool()
	roots.AddCert(org.ca.Cert)
	get := func(hc *http.Client) (int, error) {
		resp, err := hc.Get("https://" + addr + "/metrics")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(client.HTTPClient(sdk(t, user), roots)); err != nil || code != http.StatusForbidden {
		t.Errorf("client: %d %v, want 403", code, err)
	}
	if code, err := get(client.HTTPClient(sdk(t, admin), roots)); err != nil || code != http.StatusOK {
		t.Errorf("admin: %d %v, want 200", code, err)
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if _, err := get(anon); err == nil {
		t.Error("a caller without a certificate was served")
	}
	// Plain HTTP gets Go's "HTTP request to an HTTPS server" 400, never
	// the metrics.
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was served with operations_tls")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestGuardBoundsRequestsInFlight: a client holding its most requests at
// once gets its next one refused at once with the setting named, while
// another client is still served; when one finishes, the slot is free.
func TestGuardBoundsRequestsInFlight(t *testing.T) {
	lim := config.Limits{MaxRequestsPerClient: 2, MaxRequests: 3}
	lim.EnsureDefaults()
	m := newMetrics("n", "peer", "Org1")
	hold := make(chan struct{})
	entered := make(chan struct{}, 8)
	g := newGuard(lim, m, quiet, nil, func(r *http.Request) string { return r.Header.Get("X-Client") })
	srv := httptest.NewUnstartedServer(g.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-hold
	})))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	call := func(client string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/folio.v1.ChainService/GetBlock", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Client", client)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	done := make(chan int, 4)
	for i := 0; i < 2; i++ {
		go func() { code, _ := call("alice"); done <- code }()
		<-entered
	}
	if code, msg := call("alice"); code != http.StatusTooManyRequests || !strings.Contains(msg, "limit "+settingPerClient) {
		t.Errorf("third request of alice: %d %q", code, msg)
	}
	go func() { code, _ := call("bob"); done <- code }()
	<-entered
	if code, msg := call("carol"); code != http.StatusTooManyRequests || !strings.Contains(msg, "limit "+settingRequests) {
		t.Errorf("a request beyond the total: %d %q", code, msg)
	}
	close(hold)
	for i := 0; i < 3; i++ {
		if code := <-done; code != http.StatusOK {
			t.Errorf("a held request ended with %d", code)
		}
	}
	if n := testutil.ToFloat64(m.limitRefusals.WithLabelValues(settingPerClient)); n != 1 {
		t.Errorf("per-client refusals counted: %v", n)
	}
	if total, clients := g.inflight.Held(); total != 0 || clients != 0 {
		t.Errorf("slots still held after every request ended: %d (%d clients)", total, clients)
	}
}
