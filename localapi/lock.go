package localapi

import (
	"errors"
	"os"
	"syscall"
)

// LockHeld reports whether a daemon holds the lock in p: the kernel drops
// it when the daemon dies, so it tells a running daemon from one killed a
// moment ago whose socket still exists.
func (p Paths) LockHeld() bool {
	f, err := os.OpenFile(p.Lock, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false // no lock file: no daemon ever ran here
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
