package proc

import "golang.org/x/sys/unix"

// szomb is p_stat of a process that has exited and awaits its parent's
// wait (sys/proc.h).
const szomb = 5

func zombie(pid int) bool {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return false // cannot tell: kill(2) said it exists
	}
	return kp.Proc.P_stat == szomb
}
