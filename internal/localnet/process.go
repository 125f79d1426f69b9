package localnet

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// nodeProcesses finds running processes of this network's nodes by their
// command line: a folio process whose --config is a file inside dir. Matching
// on the config path, not only on a recorded pid, makes a reused pid
// harmless and finds nodes whose pid was never recorded. Returns config path
// (absolute) -> pid.
func nodeProcesses(dir string) map[string]int {
	out := map[string]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--config" && strings.HasPrefix(args[i+1], prefix) && !zombie(pid) {
				out[args[i+1]] = pid
			}
		}
	}
	return out
}

// alive reports whether pid exists and has not exited (a zombie has exited).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	return !zombie(pid)
}

func zombie(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // gone
	}
	// Fields after the command name in parentheses: "pid (comm) S ..."
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}
