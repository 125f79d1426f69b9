// Package enclavetest has hand-written fakes for tests of the enclave and
// of its users:
//
//   - VersionedState, an in-memory multi-version world state that is an
//     enclave.StateSource (readers pinned at a height) and the reference
//     the consistency tests compare every read with (ValueAt);
//   - TamperingCache, an enclave.ExternalCache that lets a test play the
//     malicious host: flip bytes of sealed blobs, swap them, replay old
//     ones;
//   - Fake, an enclave.Enclave without an enclave, for tests of the
//     endorser and committer: it records calls and answers what it is
//     told.
package enclavetest
