package types

import (
	"bytes"
	"crypto/sha256"
	"errors"
)

// InclusionProof returns the RFC 6962 audit path of envelope index among
// envelopes: the sibling hashes from the leaf up to the data hash. Together
// with the envelope, its index and the envelope count it proves the
// envelope is in a block with that data hash.
func InclusionProof(envelopes [][]byte, index int) ([][]byte, error) {
	if index < 0 || index >= len(envelopes) {
		return nil, errors.New("inclusion proof: index out of range")
	}
	leaves := make([][]byte, len(envelopes))
	for i, e := range envelopes {
		leaves[i] = LeafHash(e)
	}
	return auditPath(leaves, index), nil
}

// auditPath follows RFC 6962 section 2.1.1 (PATH(m, D[n])).
func auditPath(leaves [][]byte, m int) [][]byte {
	n := len(leaves)
	if n <= 1 {
		return nil
	}
	k := 1
	for k*2 < n {
		k *= 2
	}
	if m < k {
		return append(auditPath(leaves[:k], m), merkleRoot(leaves[k:]))
	}
	return append(auditPath(leaves[k:], m-k), merkleRoot(leaves[:k]))
}

// VerifyInclusion checks an audit path: that envelope is at index among n
// envelopes of a block whose data hash is root (RFC 6962 / RFC 9162 2.1.3.2).
func VerifyInclusion(envelope []byte, index, n uint64, path [][]byte, root []byte) bool {
	if index >= n {
		return false
	}
	fn, sn := index, n-1
	r := LeafHash(envelope)
	for _, p := range path {
		if sn == 0 {
			return false
		}
		if fn%2 == 1 || fn == sn {
			r = nodeHash(p, r)
			if fn%2 == 0 {
				for fn%2 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && bytes.Equal(r, root)
}

// ValidationCodesHash is the digest of a block's validation codes (one
// byte per transaction, as BlockMetadata.validation_codes holds them) that
// a peer signs in its state attestation: it commits the peer to which
// transactions of the block it judged valid, so evidence can prove a
// transaction's outcome offline.
func ValidationCodesHash(codes []byte) []byte {
	sum := sha256.Sum256(append([]byte("folio/validation-codes/v1\x00"), codes...))
	return sum[:]
}
