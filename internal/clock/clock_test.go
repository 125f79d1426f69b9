package clock_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/clock"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

const fiveYears = 43830 * time.Hour // 5 x 365.25 days

// oneYearIdentity returns a verifier built with the default clock (as
// every node builds its admission verifier) and a client certificate valid
// for one year from now.
func oneYearIdentity(t *testing.T) (*identity.Verifier, *identity.SigningIdentity) {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := identity.NewRootCA("Org1", "ca", key, time.Now(), identity.DefaultRootValidity)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, _ := fcrypto.GenerateKey()
	cert, err := identity.Issue(root, key, identity.LeafRequest{Name: "user1", Role: identity.RoleClient, PublicKey: leafKey.Public(), Validity: 8766 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: root}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	si, err := identity.NewSigningIdentity(identity.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "user1", Role: identity.RoleClient, Cert: cert}, leafKey)
	if err != nil {
		t.Fatal(err)
	}
	return v, si
}

// TestOffsetMovesAdmissionClock: the hook moves the clock of a verifier
// built with the default clock, whether or not the identity was cached
// before the clock moved.
func TestOffsetMovesAdmissionClock(t *testing.T) {
	if clock.Offset() != 0 {
		t.Skipf("%s is set in this test's environment", clock.EnvOffset)
	}
	v, id := oneYearIdentity(t)
	if _, err := v.Validate("Org1MSP", id.Cert); err != nil {
		t.Fatalf("a fresh one-year certificate: %v", err)
	}
	restore := clock.SetOffsetForTest(fiveYears)
	if got := clock.Now().Sub(time.Now()); got < fiveYears-time.Minute || got > fiveYears+time.Minute {
		restore()
		t.Fatalf("clock.Now is %s ahead, want %s", got, fiveYears)
	}
	_, cachedErr := v.Validate("Org1MSP", id.Cert)
	v2, id2 := oneYearIdentity(t)
	_, freshErr := v2.ValidateSerialized(id2.Serialized())
	restore()
	for name, err := range map[string]error{"cached identity": cachedErr, "new identity": freshErr} {
		if !errors.Is(err, identity.ErrExpired) {
			t.Errorf("%s 5 years ahead: %v, want %v", name, err, identity.ErrExpired)
		}
	}
	if _, err := v2.ValidateSerialized(id2.Serialized()); err != nil {
		t.Fatalf("after restore: %v", err)
	}
	// An explicit clock is not moved by the hook.
	restore = clock.SetOffsetForTest(fiveYears)
	defer restore()
	v3, err := identity.NewVerifier(v.Orgs(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v3.Validate("Org1MSP", id.Cert); err != nil {
		t.Fatalf("a verifier with its own clock: %v", err)
	}
}

// TestEnvOffset runs this test binary as a child with the environment
// variable set, as a node or `folio ledger replay` would see it.
func TestEnvOffset(t *testing.T) {
	if os.Getenv("FOLIO_CLOCK_CHILD") != "" {
		t.Skip("child")
	}
	for _, c := range []struct {
		value, wantStderr, wantChild string
		ok                           bool
	}{
		{"43830h", "clock reads", "offset 43830h0m0s expired true err <nil>", true},
		{"5y", "NOT shifted", "offset 0s expired false err", true},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnvOffsetChild$", "-test.v")
		cmd.Env = append(os.Environ(), "FOLIO_CLOCK_CHILD=1", clock.EnvOffset+"="+c.value)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s=%s: child: %v\n%s\n%s", clock.EnvOffset, c.value, err, out.String(), errb.String())
		}
		if !strings.Contains(errb.String(), "WARNING") || !strings.Contains(errb.String(), c.wantStderr) {
			t.Errorf("%s=%s: stderr lacks the warning %q:\n%s", clock.EnvOffset, c.value, c.wantStderr, errb.String())
		}
		if strings.Count(errb.String(), "WARNING") != 1 {
			t.Errorf("%s=%s: warned more than once:\n%s", clock.EnvOffset, c.value, errb.String())
		}
		if !strings.Contains(out.String(), c.wantChild) {
			t.Errorf("%s=%s: child says:\n%s\nwant %q", clock.EnvOffset, c.value, out.String(), c.wantChild)
		}
	}
}

func TestEnvOffsetChild(t *testing.T) {
	if os.Getenv("FOLIO_CLOCK_CHILD") == "" {
		t.Skip("run by TestEnvOffset")
	}
	v, id := oneYearIdentity(t)
	_, err := v.Validate("Org1MSP", id.Cert)
	_ = clock.Now() // a second read does not warn again
	fmt.Printf("offset %s expired %v err %v\n", clock.Offset(), errors.Is(err, identity.ErrExpired), clock.Err())
}

// TestEnvFile runs this test binary as a child with FOLIO_TEST_CLOCK_FILE
// (and FOLIO_TEST_CLOCK_OFFSET) set: the child's clock follows the file
// while it runs, and the two offsets add up.
func TestEnvFile(t *testing.T) {
	if os.Getenv("FOLIO_CLOCK_CHILD") != "" {
		t.Skip("child")
	}
	path := filepath.Join(t.TempDir(), "clock-offset")
	if err := os.WriteFile(path, []byte("-30s"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEnvFileChild$", "-test.v")
	cmd.Env = append(os.Environ(), "FOLIO_CLOCK_CHILD=1", clock.EnvFile+"="+path, clock.EnvOffset+"=1h")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s\n%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Fatalf("child did not pass:\n%s\n%s", out.String(), errb.String())
	}
	for _, want := range []string{clock.EnvFile + "=" + path, "-30s -> 2h0m0s", "2h0m0s -> -10m0s", "-10m0s -> 0s"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("child's stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestEnvFileChild(t *testing.T) {
	path := os.Getenv(clock.EnvFile)
	if os.Getenv("FOLIO_CLOCK_CHILD") == "" || path == "" {
		t.Skip("run by TestEnvFile")
	}
	// The file is read before the first call returns.
	if got := clock.Offset(); got != time.Hour-30*time.Second {
		t.Fatalf("offset at start %s, want 1h - 30s", got)
	}
	// waitOffset waits for the hook's goroutine to publish want; the
	// deadline only bounds a broken hook, it asserts no timing.
	waitOffset := func(want time.Duration) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for clock.Offset() != want {
			if time.Now().After(deadline) {
				t.Fatalf("offset %s, never became %s", clock.Offset(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := os.WriteFile(path, []byte("2h"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitOffset(3 * time.Hour)
	if d := clock.Now().Sub(time.Now()); d < 3*time.Hour-time.Minute || d > 3*time.Hour+time.Minute {
		t.Fatalf("clock.Now is %s ahead, want 3h", d)
	}
	// (Bad content is covered step by step in TestFileHookBadContentKeepsOffset:
	// here a poll could miss a short-lived content.)
	if err := os.WriteFile(path, []byte("-10m"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitOffset(time.Hour - 10*time.Minute)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitOffset(time.Hour)
}
