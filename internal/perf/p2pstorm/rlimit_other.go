//go:build !unix

package p2pstorm

// ensureFileLimit has nothing to raise on this platform.
func ensureFileLimit(need uint64) error { return nil }
