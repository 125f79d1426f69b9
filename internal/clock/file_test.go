package clock

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func writeOffset(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFileHookFollowsFile drives the hook's poll step by step: the offset
// follows the file's content, a missing or blank file is 0, and only a
// change prints a line.
func TestFileHookFollowsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock-offset")
	var out atomic.Int64
	var log bytes.Buffer
	h := newFileHook(path, &log, &out)
	steps := []struct {
		content string // "<missing>" removes the file
		want    time.Duration
		lines   int // lines printed by this step
	}{
		{"<missing>", 0, 1}, // the enabling warning only
		{"-30s", -30 * time.Second, 1},
		{"-30s\n", -30 * time.Second, 0}, // same offset: silent
		{" 2h ", 2 * time.Hour, 1},
		{"", 0, 1},
		{"10m", 10 * time.Minute, 1},
		{"<missing>", 0, 1},
	}
	for i, s := range steps {
		if s.content == "<missing>" {
			_ = os.Remove(path)
		} else {
			writeOffset(t, path, s.content)
		}
		before := strings.Count(log.String(), "\n")
		h.poll()
		if got := time.Duration(out.Load()); got != s.want {
			t.Fatalf("step %d (%q): offset %s, want %s", i, s.content, got, s.want)
		}
		if got := strings.Count(log.String(), "\n") - before; got != s.lines {
			t.Fatalf("step %d (%q): printed %d lines, want %d:\n%s", i, s.content, got, s.lines, log.String())
		}
	}
	if !strings.Contains(log.String(), EnvFile) || !strings.Contains(log.String(), "-30s -> 2h0m0s") {
		t.Fatalf("the log does not say what changed:\n%s", log.String())
	}
}

// TestFileHookBadContentKeepsOffset: content that is not a duration keeps
// the last good offset, and each distinct bad content is reported once.
func TestFileHookBadContentKeepsOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock-offset")
	var out atomic.Int64
	var log bytes.Buffer
	h := newFileHook(path, &log, &out)
	writeOffset(t, path, "45s")
	h.poll()
	for _, bad := range []string{"5y", "5y", "soon", "5y", "soon"} {
		writeOffset(t, path, bad)
		h.poll()
		if got := time.Duration(out.Load()); got != 45*time.Second {
			t.Fatalf("after %q: offset %s, want the last good 45s", bad, got)
		}
	}
	if n := strings.Count(log.String(), `holds "5y"`); n != 1 {
		t.Errorf("\"5y\" reported %d times, want once:\n%s", n, log.String())
	}
	if n := strings.Count(log.String(), `holds "soon"`); n != 1 {
		t.Errorf("\"soon\" reported %d times, want once:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "keeps its offset 45s") {
		t.Errorf("the warning does not say the offset is kept:\n%s", log.String())
	}
	writeOffset(t, path, "-1h")
	h.poll()
	if got := time.Duration(out.Load()); got != -time.Hour {
		t.Fatalf("good content after bad: offset %s, want -1h", got)
	}
}
