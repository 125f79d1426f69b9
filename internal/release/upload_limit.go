package release

import (
	"net/http"

	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	relcontract "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// MaxChunkUploadBytes bounds the request body of a chunk upload
// (ReleaseService.PutChunk): the ciphertext of the largest chunk a
// release record allows, in pieces of wire.PieceBytes, each with its
// stream envelope (5 bytes) and message framing (release ID, index and
// tags; at most 64 bytes).
const MaxChunkUploadBytes = relcontract.MaxChunkSize + content.TagSize + (relcontract.MaxChunkSize/wire.PieceBytes+2)*(5+64)

// LargeBody reports whether req is a chunk upload, the one request whose
// body is larger than a node's message limit by design (each of its
// messages is within it), and the bound on it. Its handler takes at most
// the chunk's ciphertext length from the manifest, which is below this
// bound; the node's request guard enforces the bound and a minimum upload
// rate.
func LargeBody(req *http.Request) (int64, bool) {
	if req.Method != http.MethodPost || req.URL.Path != foliov1connect.ReleaseServicePutChunkProcedure {
		return 0, false
	}
	return MaxChunkUploadBytes, true
}
