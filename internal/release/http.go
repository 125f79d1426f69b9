package release

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// API paths (docs/release.md, "Client API").
const apiPrefix = "/release/v1/"

// registerHTTP adds the client API to the peer's mux. Every route is
// behind the node's mutual TLS and MSP check; Caller names the client.
func (p *Peer) registerHTTP(mux *http.ServeMux) {
	mux.HandleFunc("GET "+apiPrefix+"keyserver", p.handleKeyServer)
	mux.HandleFunc("GET "+apiPrefix+"releases/{rid}", p.handleStatus)
	mux.HandleFunc("GET "+apiPrefix+"releases/{rid}/manifest", p.handleGetManifest)
	mux.HandleFunc("PUT "+apiPrefix+"releases/{rid}/manifest", p.handlePutManifest)
	mux.HandleFunc("GET "+apiPrefix+"releases/{rid}/chunks/{i}", p.handleGetChunk)
	mux.HandleFunc("PUT "+apiPrefix+"releases/{rid}/chunks/{i}", p.handlePutChunk)
	mux.HandleFunc("POST "+apiPrefix+"releases/{rid}/subscribe", p.handleSubscribe)
	mux.HandleFunc("POST "+apiPrefix+"releases/{rid}/progress", p.handleProgress)
	mux.HandleFunc("GET "+apiPrefix+"releases/{rid}/shares", p.handleShares)
	mux.HandleFunc("GET "+apiPrefix+"releases/{rid}/plaintext", p.handlePlaintext)
	mux.HandleFunc("GET "+apiPrefix+"probe", p.handleProbe)
}

// httpError writes a plain-text error.
func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	http.Error(w, fmt.Sprintf(format, args...), code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// caller returns the client's label, or writes 401.
func (p *Peer) caller(w http.ResponseWriter, req *http.Request) (string, bool) {
	id, ok := p.o.Caller(req.Context())
	if !ok {
		httpError(w, http.StatusUnauthorized, "no authenticated client")
		return "", false
	}
	return id.Label(), true
}

// ownsClientName: a client name is the caller's label or label/name.
func ownsClientName(label, client string) bool {
	return client == label || strings.HasPrefix(client, label+"/")
}

// relOf resolves {rid}, loading the release from the chain if needed.
func (p *Peer) relOf(w http.ResponseWriter, req *http.Request, allowRefused bool) (*rel, bool) {
	rid := req.PathValue("rid")
	if !wire.ValidRID(rid) {
		httpError(w, http.StatusBadRequest, "%q is not a release ID", rid)
		return nil, false
	}
	r, err := p.release(req.Context(), rid)
	if err != nil {
		if errors.Is(err, ErrUnknownRelease) {
			httpError(w, http.StatusNotFound, "%v", err)
		} else {
			httpError(w, http.StatusServiceUnavailable, "%v", err)
		}
		return nil, false
	}
	if !allowRefused {
		if reason := r.refusedReason(); reason != "" {
			httpError(w, http.StatusForbidden, "%s refuses release %s: %s", p.name(), rid, reason)
			return nil, false
		}
	}
	return r, true
}

func (p *Peer) handleKeyServer(w http.ResponseWriter, req *http.Request) {
	if _, ok := p.caller(w, req); !ok {
		return
	}
	writeJSON(w, p.info)
}

func (p *Peer) handleStatus(w http.ResponseWriter, req *http.Request) {
	if _, ok := p.caller(w, req); !ok {
		return
	}
	r, ok := p.relOf(w, req, true)
	if !ok {
		return
	}
	writeJSON(w, r.status())
}

func (p *Peer) handleGetManifest(w http.ResponseWriter, req *http.Request) {
	if _, ok := p.caller(w, req); !ok {
		return
	}
	r, ok := p.relOf(w, req, false)
	if !ok {
		return
	}
	for {
		ch := r.waitCh()
		if m := r.st.manifest(); m != nil {
			raw, err := m.MarshalBinary()
			if err != nil {
				httpError(w, http.StatusInternalServerError, "%v", err)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(raw)
			return
		}
		select {
		case <-req.Context().Done():
			return
		case <-ch:
		}
	}
}

// ownerUpload checks an upload comes from the release's owner to its origin.
func (p *Peer) ownerUpload(w http.ResponseWriter, req *http.Request) (*rel, bool) {
	label, ok := p.caller(w, req)
	if !ok {
		return nil, false
	}
	r, ok := p.relOf(w, req, false)
	if !ok {
		return nil, false
	}
	if label != r.rec.Owner {
		httpError(w, http.StatusForbidden, "only the owner %s uploads the ciphertext of release %s", r.rec.Owner, r.rec.ID)
		return nil, false
	}
	if !r.isOrigin {
		httpError(w, http.StatusMisdirectedRequest, "upload to the origin %s, not to %s", r.rec.Origin, p.name())
		return nil, false
	}
	return r, true
}

func (p *Peer) handlePutManifest(w http.ResponseWriter, req *http.Request) {
	r, ok := p.ownerUpload(w, req)
	if !ok {
		return
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, content.MaxManifestChunks*32+1024))
	if err != nil {
		httpError(w, http.StatusBadRequest, "read manifest: %v", err)
		return
	}
	var m content.Manifest
	if err := m.UnmarshalBinary(raw); err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err := m.CheckRecord(&r.rec); err != nil {
		httpError(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	if err := r.st.setManifest(&m, true); err != nil {
		storeError(w, err)
		return
	}
	r.notify()
	w.WriteHeader(http.StatusNoContent)
}

func storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		httpError(w, http.StatusInsufficientStorage, "the peer's disk is full: %v", err)
	case errors.Is(err, content.ErrCorrupt):
		httpError(w, http.StatusUnprocessableEntity, "%v", err)
	default:
		httpError(w, http.StatusInternalServerError, "%v", err)
	}
}

func chunkIndex(w http.ResponseWriter, req *http.Request, r *rel) (int64, bool) {
	i, err := strconv.ParseInt(req.PathValue("i"), 10, 64)
	if err != nil || i < 0 || i >= r.rec.Chunks {
		httpError(w, http.StatusBadRequest, "chunk %q: release %s has chunks 0..%d", req.PathValue("i"), r.rec.ID, r.rec.Chunks-1)
		return 0, false
	}
	return i, true
}

func (p *Peer) handlePutChunk(w http.ResponseWriter, req *http.Request) {
	r, ok := p.ownerUpload(w, req)
	if !ok {
		return
	}
	i, ok := chunkIndex(w, req, r)
	if !ok {
		return
	}
	m := r.st.manifest()
	if m == nil {
		httpError(w, http.StatusConflict, "upload the manifest first")
		return
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, m.CipherLen(i)+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "read chunk: %v", err)
		return
	}
	if err := r.st.putChunk(i, data); err != nil {
		storeError(w, err)
		return
	}
	r.notify()
	w.WriteHeader(http.StatusNoContent)
}

func (p *Peer) handleGetChunk(w http.ResponseWriter, req *http.Request) {
	if _, ok := p.caller(w, req); !ok {
		return
	}
	r, ok := p.relOf(w, req, false)
	if !ok {
		return
	}
	i, ok := chunkIndex(w, req, r)
	if !ok {
		return
	}
	for {
		ch := r.waitCh()
		if r.st.has(i) {
			data, err := r.st.chunk(i)
			if err == nil {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Length", strconv.Itoa(len(data)))
				_, _ = w.Write(data)
				return
			}
			if !errors.Is(err, content.ErrCorrupt) {
				httpError(w, http.StatusInternalServerError, "%v", err)
				return
			}
			r.notify() // the fetcher gets it again
			continue
		}
		select {
		case <-req.Context().Done():
			return
		case <-ch:
		}
	}
}

func (p *Peer) handleShares(w http.ResponseWriter, req *http.Request) {
	if _, ok := p.caller(w, req); !ok {
		return
	}
	r, ok := p.relOf(w, req, false)
	if !ok {
		return
	}
	if now := p.now(); now.Before(r.releaseAt) {
		httpError(w, http.StatusTooEarly, "%v: release %s opens at %s, it is %s", ErrTooEarly, r.rec.ID, r.rec.ReleaseAt, now.UTC().Format(time.RFC3339Nano))
		return
	}
	if _, ok, _ := p.clock.skew(); !ok {
		httpError(w, http.StatusServiceUnavailable, "%v: ask another peer", ErrClockSkew)
		return
	}
	r.mu.Lock()
	v := wire.SharesView{Shares: []wire.ShareMsg{}}
	for _, idx := range sortedKeys(r.mu.shares) {
		v.Shares = append(v.Shares, r.mu.shares[idx])
	}
	r.mu.Unlock()
	writeJSON(w, v)
}

// MaxProbeBytes bounds a bandwidth probe.
const MaxProbeBytes = 4 << 20

// handleProbe sends bytes for a client to measure its download rate.
func (p *Peer) handleProbe(w http.ResponseWriter, req *http.Request) {
	if _, ok := p.caller(w, req); !ok {
		return
	}
	n, err := strconv.Atoi(req.URL.Query().Get("bytes"))
	if err != nil || n <= 0 || n > MaxProbeBytes {
		httpError(w, http.StatusBadRequest, "bytes: 1..%d", MaxProbeBytes)
		return
	}
	buf := make([]byte, min(n, 64<<10))
	_, _ = rand.Read(buf)
	w.Header().Set("Content-Length", strconv.Itoa(n))
	for n > 0 {
		k := min(n, len(buf))
		if _, err := w.Write(buf[:k]); err != nil {
			return
		}
		n -= k
	}
}

func sortedKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
