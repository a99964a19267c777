package fdpass

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Darwin has no SOCK_CLOEXEC; the fork lock keeps a concurrent exec from
// inheriting the pair before close-on-exec is set.
func socketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return fds, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds, nil
}

func osNewFile(fd int, name string) *os.File { return os.NewFile(uintptr(fd), name) }
