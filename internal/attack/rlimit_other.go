//go:build !unix

package attack

// raiseFileLimit does nothing where RLIMIT_NOFILE does not exist; dials
// beyond the system's limit fail with KindFDLimit or KindOther errors.
func raiseFileLimit(need, want uint64) error { return nil }
