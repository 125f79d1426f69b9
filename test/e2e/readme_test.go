package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadmeQuickStart runs every command of README.md's quick start, as
// written and in order, against a local network started the way
// `make demo` starts it, from a directory where bin/folio is the binary
// under test: a README command that no longer works fails here.
func TestReadmeQuickStart(t *testing.T) {
	cmds := readmeCommands(t, "../../README.md", "The network keeps running:")
	if len(cmds) < 8 {
		t.Fatalf("found only %d commands in README.md's quick start: %q", len(cmds), cmds)
	}
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(folioBin, filepath.Join(work, "bin", "folio")); err != nil {
		t.Fatal(err)
	}
	n := newNetwork(t)
	n.dir = filepath.Join(work, "folio-net")
	n.must("network", "up", "--detach")
	sh := func(line string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-ec", line)
		cmd.Dir = work
		// The README's export line sets FOLIO_NETWORK for the lines after
		// it; each line runs in its own shell here, so it is set for all.
		cmd.Env = append(os.Environ(), "FOLIO_NETWORK=./folio-net")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	for _, line := range cmds {
		out, err := sh(line)
		if err != nil {
			t.Fatalf("README command failed: %s\n%v\n%s", line, err, out)
		}
		t.Logf("$ %s\n%s", line, firstLines(out, 4))
	}
}

// readmeCommands returns the lines of the first ```sh block after the
// line containing marker, without comments or blank lines.
func readmeCommands(t *testing.T, path, marker string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	seen, in := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !seen:
			seen = strings.Contains(line, marker)
		case !in:
			in = strings.HasPrefix(line, "```sh")
		case strings.HasPrefix(line, "```"):
			return out
		default:
			if i := strings.Index(line, "  #"); i >= 0 {
				line = line[:i]
			}
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
	}
	t.Fatalf("README.md: no complete ```sh block after %q", marker)
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
