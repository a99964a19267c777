// Package flock serializes the helper's processes (the launcher and every
// session's plugin) on lock files in the root-owned run directory.
package flock

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive flock on path, which it creates (0600) and never
// opens through a symbolic link. unlock releases it.
func Lock(path string) (unlock func(), err error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { unix.Close(fd) }, nil // closing releases the lock
}
