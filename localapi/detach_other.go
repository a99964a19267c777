//go:build !linux

package localapi

import "syscall"

// detachAttr puts the daemon in a session of its own, without the
// starter's controlling terminal (no scheduler autogroups outside Linux).
func detachAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
