package launcher

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// waitExited blocks until pid has exited, leaving it unreaped: a kqueue
// NOTE_EXIT fires when the process dies, not when it is reaped (darwin's
// waitid does not do WNOWAIT reliably; Go's own os package avoids it).
func waitExited(pid int) error {
	kq, err := unix.Kqueue()
	if err != nil {
		return err
	}
	defer unix.Close(kq)
	changes := []unix.Kevent_t{{Ident: uint64(pid), Filter: unix.EVFILT_PROC, Flags: unix.EV_ADD | unix.EV_ONESHOT, Fflags: unix.NOTE_EXIT}}
	events := make([]unix.Kevent_t, 1)
	for {
		_, err := unix.Kevent(kq, changes, events, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue // EV_ADD again is harmless
		case errors.Is(err, syscall.ESRCH):
			return nil // exited before we registered: a zombie until reaped
		}
		return err
	}
}
