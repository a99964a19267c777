package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/internal/privtest"
	"github.com/kftray-go/kftray/localapi"
)

// The daemon `kftray daemon start` leaves behind in a terminal survives
// the terminal: SIGHUP, the hangup when the terminal closes and its
// session leader's exit. It has no controlling terminal and is not in the
// terminal's foreground process group, and it stays in the starter's
// session and so in its scheduler autogroup (issue 22: a session of its
// own, through setsid, costs it up to half its throughput; see
// docs/benchmarks.md).
func TestDaemonStartDetachesFromTerminal(t *testing.T) {
	if _, err := exec.LookPath("kftray"); err != nil {
		t.Fatalf("TestMain puts kftray on PATH: %v", err)
	}
	// A short config directory: unix socket paths are limited.
	dir, err := os.MkdirTemp("", "kfd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := fwdaemon.StopRunning(ctx, dir, 15*time.Second); err != nil {
			t.Log(err)
		}
		os.RemoveAll(dir)
	})
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(unreachableKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}

	// A terminal: the starter is its session leader, as a login shell is,
	// and runs `kftray daemon start` in the terminal's foreground group.
	master, slave := openPTY(t)
	starter := exec.Command("sh", "-c", "kftray daemon start && exec cat")
	starter.Env = append(os.Environ(), "KFTRAY_CONFIG="+dir, "KUBECONFIG="+kc)
	starter.Stdin, starter.Stdout, starter.Stderr = slave, slave, slave
	starter.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := starter.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	exited := make(chan error, 1)
	go func() { exited <- starter.Wait() }()
	t.Cleanup(func() { _ = starter.Process.Kill() })
	// The terminal is not read: its output is one line, well within the
	// pty's buffer, and a read pending on the master would hold its close
	// (the hangup below) back.

	c := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	var daemon int
	privtest.WaitFor(t, 30*time.Second, "the daemon started by kftray daemon start to answer", func() bool {
		st, err := c.Status(t.Context())
		daemon = st.PID
		return err == nil
	})
	sp, dp := procStat(t, starter.Process.Pid), procStat(t, daemon)
	if dp.tty != 0 {
		t.Errorf("the daemon has a controlling terminal (tty_nr %#x)", dp.tty)
	}
	if dp.pgrp == sp.pgrp || dp.pgrp != daemon {
		t.Errorf("the daemon is in process group %d, want its own (%d), not the terminal's %d", dp.pgrp, daemon, sp.pgrp)
	}
	if dp.session != sp.session {
		t.Errorf("the daemon is in session %d, want the starter's %d (a session of its own is an autogroup of its own)", dp.session, sp.session)
	}
	if sa, err := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", starter.Process.Pid)); err == nil {
		da, err := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", daemon))
		if err != nil || string(da) != string(sa) {
			t.Errorf("the daemon's scheduler autogroup is %q (%v), want the starter's %q", da, err, sa)
		}
	} else {
		t.Logf("no scheduler autogroups here (%v): not checked", err)
	}

	// It ignores SIGHUP in the kernel's sense (SIG_IGN): a SIGHUP sent to
	// it is dropped when sent. Go's default would be a handler that exits
	// a moment later, so answering right after a SIGHUP proves nothing
	// by itself.
	if !sigIgnored(t, daemon, syscall.SIGHUP) {
		t.Errorf("the daemon does not ignore SIGHUP")
	}
	// SIGHUP to the daemon itself, then the terminal closes: the kernel
	// hangs it up (SIGHUP to the foreground group) and its session leader
	// exits.
	if err := syscall.Kill(daemon, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	master.Close()
	select {
	case err := <-exited:
		t.Logf("the terminal's session leader exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the starter did not exit when its terminal closed")
	}
	st, err := c.Status(t.Context())
	if err != nil {
		t.Fatalf("the daemon is gone after SIGHUP and the terminal closing: %v", err)
	}
	if st.PID != daemon {
		t.Fatalf("another daemon (pid %d) answers, not the one started (pid %d)", st.PID, daemon)
	}
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// sigIgnored says whether pid ignores sig (SigIgn in /proc/PID/status).
func sigIgnored(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status SigIgn %q: %v", pid, v, err)
			}
			return mask&(1<<(uint(sig)-1)) != 0
		}
	}
	t.Fatalf("no SigIgn in /proc/%d/status", pid)
	return false
}

type stat struct{ pgrp, session, tty int }

// procStat reads a process's group, session and controlling terminal.
func procStat(t *testing.T, pid int) stat {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	var st stat
	if _, err := fmt.Sscan(strings.Join(f[2:5], " "), &st.pgrp, &st.session, &st.tty); err != nil {
		t.Fatalf("/proc/%d/stat: %v", pid, err)
	}
	return st
}
