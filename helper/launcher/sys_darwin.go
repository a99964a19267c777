package launcher

import "syscall"

// macOS has no parent-death signal; the launcher kills the plugin's group
// when the session's connection closes, and a plugin whose launcher died
// exits once it sees itself re-parented (session's exitWithParent).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
