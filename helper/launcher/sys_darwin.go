package launcher

import "syscall"

// macOS has no parent-death signal; the launcher kills the plugin's group
// when the session's connection closes, and the plugin exits when its
// stdout/fd-channel peer goes away.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
