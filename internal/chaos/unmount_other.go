//go:build !linux

package chaos

import "errors"

func unmount(string) error { return errors.New("unmount: only on Linux") }
