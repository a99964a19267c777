package cluster

import "syscall"

// Each child leads its own process group (so stop reaches anything it
// forks) and is killed by the kernel if the test binary dies, even by SIGKILL.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
