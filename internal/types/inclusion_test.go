package types

import (
	"fmt"
	"testing"
)

func TestInclusionProofsForEveryLeafAndSize(t *testing.T) {
	for n := 1; n <= 33; n++ {
		var envs [][]byte
		for i := 0; i < n; i++ {
			envs = append(envs, []byte(fmt.Sprintf("envelope %d of %d", i, n)))
		}
		root := DataHash(envs)
		for i := 0; i < n; i++ {
			path, err := InclusionProof(envs, i)
			if err != nil {
				t.Fatal(err)
			}
			if !VerifyInclusion(envs[i], uint64(i), uint64(n), path, root) {
				t.Fatalf("n=%d i=%d: valid proof rejected", n, i)
			}
			if VerifyInclusion([]byte("forged"), uint64(i), uint64(n), path, root) {
				t.Fatalf("n=%d i=%d: forged envelope accepted", n, i)
			}
			if n > 1 && VerifyInclusion(envs[i], uint64((i+1)%n), uint64(n), path, root) {
				t.Fatalf("n=%d i=%d: wrong index accepted", n, i)
			}
			if len(path) > 0 {
				path[0] = LeafHash([]byte("x"))
				if VerifyInclusion(envs[i], uint64(i), uint64(n), path, root) {
					t.Fatalf("n=%d i=%d: tampered path accepted", n, i)
				}
			}
		}
	}
	if _, err := InclusionProof(nil, 0); err == nil {
		t.Fatal("proof for an empty block")
	}
}
