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
		// `ip netns exec NS folio ...` (a node in a namespace of its own)
		// carries the same arguments until it execs folio, keeping its
		// pid: skip the wrapper.
		if filepath.Base(args[0]) == "ip" {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--config" && strings.HasPrefix(args[i+1], prefix) && !Exited(pid) {
				out[args[i+1]] = pid
			}
		}
	}
	return out
}

// NodePID returns the pid of node nd's running process in the network in
// dir (found by its command line, as nodeProcesses), or false.
func NodePID(dir string, nd *Node) (int, bool) {
	pid, ok := nodeProcesses(dir)[filepath.Join(filepath.Clean(dir), nd.Config)]
	return pid, ok
}

// alive reports whether pid exists and has not exited.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	return !Exited(pid)
}

// Exited reports whether pid has exited: gone, or every thread of it a
// zombie. The thread group leader turns zombie before its other threads
// finish exiting, and those still hold the process's files (its listening
// sockets): a restart on the same ports must wait for them too.
func Exited(pid int) bool {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return true
	}
	for _, task := range tasks {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", task.Name(), "stat"))
		if err != nil {
			continue // the thread is gone
		}
		// Fields after the command name in parentheses: "pid (comm) S ..."
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 || i+2 >= len(raw) {
			continue
		}
		if st := raw[i+2]; st != 'Z' && st != 'X' {
			return false
		}
	}
	return true
}
