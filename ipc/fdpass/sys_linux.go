package fdpass

import (
	"os"

	"golang.org/x/sys/unix"
)

func socketpair() ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
}

func osNewFile(fd int, name string) *os.File { return os.NewFile(uintptr(fd), name) }
