package launcher

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// waitExited blocks until pid has exited, leaving it unreaped (WNOWAIT).
func waitExited(pid int) error {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
