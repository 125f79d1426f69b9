package release

import (
	"net/http"
	"strings"

	relcontract "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/content"
)

// MaxChunkUploadBytes bounds the body of a chunk upload: the ciphertext
// of the largest chunk a release record allows.
const MaxChunkUploadBytes = relcontract.MaxChunkSize + content.TagSize

// LargeBody reports whether req is a chunk upload (PUT
// /release/v1/releases/{rid}/chunks/{i}), the one request whose body is
// larger than a node's message limit by design, and the bound on it. Its
// handler reads at most the chunk's ciphertext length from the manifest,
// which is below this bound; the node's request guard enforces the bound
// and a minimum upload rate.
func LargeBody(req *http.Request) (int64, bool) {
	if req.Method != http.MethodPut {
		return 0, false
	}
	rest, ok := strings.CutPrefix(req.URL.Path, apiPrefix+"releases/")
	if !ok {
		return 0, false
	}
	rid, idx, ok := strings.Cut(rest, "/chunks/")
	if !ok || rid == "" || idx == "" || strings.Contains(rid, "/") || strings.Contains(idx, "/") {
		return 0, false
	}
	return MaxChunkUploadBytes, true
}
