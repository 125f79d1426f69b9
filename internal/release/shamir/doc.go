// Package shamir splits a secret into n shares so that any t of them
// rebuild it and fewer than t reveal nothing about it (Shamir, "How to
// share a secret", 1979), byte by byte over GF(2^8).
//
// # Construction
//
// The field is GF(2^8) with the AES reduction polynomial
// x^8 + x^4 + x^3 + x + 1 (0x11b). For every byte s of the secret a fresh
// polynomial f(x) = s + a1 x + ... + a(t-1) x^(t-1) is drawn with
// uniformly random coefficients; share i (i = 1..n) holds f(i) for every
// byte. Combine evaluates the Lagrange interpolation of the given points at
// x = 0. This is the construction HashiCorp Vault's shamir package uses
// (audited as part of Vault); the code here is written from the paper and
// checked against a table-based field (exp/log) and against naive
// polynomial evaluation.
//
// Field multiplication is done bit by bit with masks, without tables or
// branches on secret data, so its timing does not depend on the bytes of
// the secret or the shares.
//
// # Contract
//
//   - Split(secret, n, t, rand) returns n shares with X = 1..n; each Y has
//     len(secret) bytes. 2 <= t <= n <= 255; 1 <= len(secret).
//   - Combine(shares) needs at least t distinct shares of one split and
//     returns the secret; given fewer, or shares of different splits, it
//     returns bytes unrelated to the secret without any error: callers
//     check the result against a commitment (the release key commitment).
//   - Share.MarshalBinary / UnmarshalBinary: X (1 byte) then Y.
//
// Slices returned are the caller's; inputs are never retained.
package shamir
