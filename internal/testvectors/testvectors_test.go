package testvectors

import (
	"strings"
	"testing"
)

// recorder stands in for *testing.T to observe that a missing folder fails
// the test (Fatalf) rather than skipping it.
type recorder struct {
	testing.TB
	failed string
}

type fatal struct{}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
	panic(fatal{})
}

func TestMissingVectorsFail(t *testing.T) {
	t.Setenv(EnvDir, t.TempDir())
	r := &recorder{}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(fatal); !ok {
					panic(v)
				}
			}
		}()
		Dir(r, "ethereum-trie")
	}()
	if !strings.Contains(r.failed, "not found") {
		t.Fatalf("missing vectors did not fail the test: %q", r.failed)
	}
}

func TestSharedVectorsFound(t *testing.T) {
	for _, set := range []string{"wycheproof", "ethereum-trie", "fabric-policydsl"} {
		if dir := Dir(t, set); !strings.HasSuffix(dir, set) {
			t.Fatalf("Dir(%s) = %s", set, dir)
		}
	}
}
