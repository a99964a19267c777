package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes a child get SIGKILL when the bench process dies, even
// when the bench is killed itself.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// setsidAttr puts a child in a session of its own, as localapi.Ensure
// detached the daemon before issue 22.
func setsidAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
