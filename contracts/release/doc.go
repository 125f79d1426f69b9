// Package release is Folio's timed-release contract (DESIGN.md 5.5,
// docs/release.md): the on-chain half of a fair timed release of a large
// work. It records
//
//   - the release: work, owner, content hash, sizes, the Merkle root of
//     the ciphertext chunks, release time T and end time E, the key
//     servers with their key-agreement keys, the t-of-n key shares each
//     encrypted to its key server, a commitment to every share and to the
//     content key, the trusted edges and the origin peer (create);
//   - the shares the key servers released, each with the key server's
//     signature over (release, index, share, send time), accepted only at
//     or after T by the transaction timestamp and the signed send time
//     (at endorsement) and by the block timestamp (at validation, through
//     Context.CommitNotBefore: a transaction committed in a block stamped
//     before T is TOO_EARLY), and only if the share matches its
//     commitment (publish_share);
//   - what each client saw: ciphertext complete, key received, access
//     time, or why it could not open the work (report_access).
//
// Contracts cannot read other namespaces, so the contract cannot check
// that the caller owns the work in the copyright contract, nor that the
// content hash is the registered one. It requires the caller to be the
// owner it names, and the key servers (peers) check owner and content
// hash against the copyright record before they serve anything of the
// release (docs/release.md, "Trust").
//
// The logic is plain Go against contract.Context (no build tags): it is
// unit-tested natively with contract/contracttest and in the wasm VM, and
// the client and peers import the same types and canonical bytes.
//
// State layout (composite keys):
//
//	release {work} {owner}                      -> Record (JSON)
//	rid     {id}                                -> {"work","owner"} (lookup by release ID)
//	share   {work} {owner} {index as 3 digits}  -> Published (JSON)
//	access  {work} {owner} {reporter} {client}  -> Access (JSON)
package release
