// Package copyright is Folio's copyright contract: it registers creative
// works, transfers their ownership, and answers queries (get, history,
// list by owner or author). The logic is plain Go against contract.Context,
// unit-tested natively with contract/contracttest; the tiny main package in
// cmd/copyright serves it as a wasm contract:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared \
//	    -o build/contracts/copyright.wasm ./contracts/copyright/cmd/copyright
//
// Every function takes one argument, a JSON object, and answers JSON,
// through a hand-written codec (codec.go) that writes json.Marshal's
// bytes at a third of encoding/json's cost in wasm.
// Errors are contract.Error responses (400 bad argument naming the field,
// 403 not allowed, 404 unknown work, 409 conflict). docs/contracts.md
// lists the functions, their arguments and their errors.
//
// State layout (composite keys, see contract.CreateCompositeKey):
//
//	work      {id}          -> Record (JSON)
//	owner~id  {owner} {id}  -> 0x00   index for list by owner
//	author~id {author} {id} -> 0x00   index for list by author
//	hash~id   {hash} {id}   -> 0x00   index for content-hash priority and list by hash
//
// A content hash registers once unless the registration declares a
// relation (derivative-of:ID, or allow_duplicate); owners must belong to
// an organisation of the channel (Context.ChannelOrgs).
//
// The record carries its last change (action, updated_by, updated_at) so
// that every value in the key's history says who did what: history is
// built from GetHistoryForKey of the record key.
package copyright
