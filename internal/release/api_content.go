package release

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// GetManifest waits until the manifest is held and returns it.
func (a *api) GetManifest(ctx context.Context, req *connect.Request[foliov1.GetManifestRequest]) (*connect.Response[foliov1.GetManifestResponse], error) {
	_, r, err := a.open(ctx, req.Msg.GetReleaseId(), false)
	if err != nil {
		return nil, err
	}
	for {
		ch := r.changed.C()
		if m := r.st.manifest(); m != nil {
			raw, err := m.MarshalBinary()
			if err != nil {
				return nil, codeOf(err)
			}
			return connect.NewResponse(&foliov1.GetManifestResponse{Manifest: raw}), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-a.p.ctx.Done():
			return nil, errorf(connect.CodeUnavailable, "%s is shutting down", a.p.name())
		case <-ch:
		}
	}
}

// ownerUpload opens an upload: only the release's owner, only to its
// origin.
func (a *api) ownerUpload(ctx context.Context, rid string) (*rel, error) {
	label, r, err := a.open(ctx, rid, false)
	if err != nil {
		return nil, err
	}
	if label != r.rec.Owner {
		return nil, errorf(connect.CodePermissionDenied, "only the owner %s uploads the ciphertext of release %s", r.rec.Owner, r.rec.ID)
	}
	if !r.isOrigin {
		return nil, errorf(connect.CodeFailedPrecondition, "upload to the origin %s, not to %s", r.rec.Origin, a.p.name())
	}
	return r, nil
}

// PutManifest stores the owner's manifest at the origin, once it matches
// the record on chain.
func (a *api) PutManifest(ctx context.Context, req *connect.Request[foliov1.PutManifestRequest]) (*connect.Response[foliov1.PutManifestResponse], error) {
	r, err := a.ownerUpload(ctx, req.Msg.GetReleaseId())
	if err != nil {
		return nil, err
	}
	var m content.Manifest
	if err := m.UnmarshalBinary(req.Msg.GetManifest()); err != nil {
		return nil, errorf(connect.CodeInvalidArgument, "%v", err)
	}
	if err := m.CheckRecord(&r.rec); err != nil {
		return nil, errorf(connect.CodeInvalidArgument, "%v", err)
	}
	if err := r.st.setManifest(&m, true); err != nil {
		return nil, codeOf(err)
	}
	r.changed.notify()
	return connect.NewResponse(&foliov1.PutManifestResponse{}), nil
}

// chunkIndex checks a chunk index against the release.
func chunkIndex(r *rel, i int64) error {
	if i < 0 || i >= r.rec.Chunks {
		return errorf(connect.CodeInvalidArgument, "chunk %d: release %s has chunks 0..%d", i, r.rec.ID, r.rec.Chunks-1)
	}
	return nil
}

// GetChunk waits until chunk i is held, then sends it in pieces. A chunk
// found damaged on disk is dropped (the fetcher gets it again) and waited
// for anew.
func (a *api) GetChunk(ctx context.Context, req *connect.Request[foliov1.GetChunkRequest], stream *connect.ServerStream[foliov1.GetChunkResponse]) error {
	_, r, err := a.open(ctx, req.Msg.GetReleaseId(), false)
	if err != nil {
		return err
	}
	i := req.Msg.GetIndex()
	if err := chunkIndex(r, i); err != nil {
		return err
	}
	for {
		ch := r.changed.C()
		if r.st.has(i) {
			data, err := r.st.chunk(i)
			if err == nil {
				return sendPieces(data, func(p []byte) error { return stream.Send(&foliov1.GetChunkResponse{Data: p}) })
			}
			if !errors.Is(err, content.ErrCorrupt) {
				return codeOf(err)
			}
			a.p.log.Warn("chunk damaged on disk: dropped, it will be fetched again", "rid", r.rec.ID, "chunk", i)
			r.changed.notify()
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.p.ctx.Done():
			return errorf(connect.CodeUnavailable, "%s is shutting down", a.p.name())
		case <-ch:
		}
	}
}

// sendPieces sends data in pieces of at most wire.PieceBytes.
func sendPieces(data []byte, send func([]byte) error) error {
	for len(data) > 0 {
		n := min(len(data), wire.PieceBytes)
		if err := send(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// PutChunk stores one chunk the owner uploads in pieces: the pieces are
// gathered up to the chunk's ciphertext length from the manifest (more is
// refused at once), then the chunk is verified and stored. Idempotent:
// a chunk already held is verified and kept.
func (a *api) PutChunk(ctx context.Context, stream *connect.ClientStream[foliov1.PutChunkRequest]) (*connect.Response[foliov1.PutChunkResponse], error) {
	if !stream.Receive() {
		if err := stream.Err(); err != nil {
			return nil, err
		}
		return nil, errorf(connect.CodeInvalidArgument, "empty upload: the first message names the release and the chunk")
	}
	first := stream.Msg()
	rid, i := first.GetReleaseId(), first.GetIndex()
	r, err := a.ownerUpload(ctx, rid)
	if err != nil {
		return nil, err
	}
	if err := chunkIndex(r, i); err != nil {
		return nil, err
	}
	m := r.st.manifest()
	if m == nil {
		return nil, errorf(connect.CodeFailedPrecondition, "upload the manifest first")
	}
	want := m.CipherLen(i)
	data := make([]byte, 0, want)
	msg := first
	for {
		if (msg.GetReleaseId() != "" && msg.GetReleaseId() != rid) || (msg.GetIndex() != 0 && msg.GetIndex() != i) {
			return nil, errorf(connect.CodeInvalidArgument, "an upload of chunk %d of release %s carries a piece of chunk %d of %s", i, rid, msg.GetIndex(), msg.GetReleaseId())
		}
		if int64(len(data))+int64(len(msg.GetData())) > want {
			return nil, errorf(connect.CodeInvalidArgument, "%v: chunk %d is longer than its %d bytes", content.ErrCorrupt, i, want)
		}
		data = append(data, msg.GetData()...)
		if !stream.Receive() {
			break
		}
		msg = stream.Msg()
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	if err := r.st.putChunk(i, data); err != nil {
		return nil, codeOf(err)
	}
	r.changed.notify()
	return connect.NewResponse(&foliov1.PutChunkResponse{}), nil
}
