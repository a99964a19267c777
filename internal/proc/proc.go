// Package proc answers whether a process is alive, for the owner of a
// forward's state row or of a relay: a pid that exists is not enough, since
// a killed process stays a zombie until its parent reaps it (and a
// detached daemon's parent may be slow to, or never), and kill(pid, 0)
// succeeds on zombies.
package proc

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Alive reports whether pid names a running process (of any user): it
// exists and is not a zombie.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	return !zombie(pid)
}
