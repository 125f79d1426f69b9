package chaos

import "syscall"

// unmount detaches the filesystem mounted at path.
func unmount(path string) error { return syscall.Unmount(path, syscall.MNT_DETACH) }
