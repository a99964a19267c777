package localapi

import "syscall"

// detachAttr detaches the daemon from the starter's terminal without
// setsid: a process group of its own (not the terminal's foreground group,
// so neither the hangup nor Ctrl-C reach it), while `kftray daemon
// --detached` ignores SIGHUP and gives up the controlling terminal itself.
// setsid would also give it a scheduler autogroup of its own
// (/proc/sys/kernel/sched_autogroup_enabled, on by default on desktop
// distributions), and every hop between the client, the daemon and the
// rest of the machine then wakes across groups: issue 22 measured 0.5-0.8x
// the throughput of the same daemon in the starter's group (see
// docs/benchmarks.md). Staying in the starter's session keeps the daemon
// in its autogroup, as kubectl port-forward is.
func detachAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
