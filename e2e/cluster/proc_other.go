//go:build !linux

package cluster

import "syscall"

// Without Pdeathsig, only Stop and the cleanup in Main reap the children.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
