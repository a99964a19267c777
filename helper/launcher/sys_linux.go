package launcher

import "syscall"

// The plugin gets its own session and is asked to stop (SIGTERM: it
// finishes a hosts write under way first) when the launcher dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}
}
