package launcher

import (
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// StopGrace is how long the launcher lets a plugin it asked to stop
// finish a hosts write under way before it kills it. The plugin holds the
// hosts lock for one read and one write, never waiting on its client; a
// kill after the grace is still safe (the write's journal undoes it).
const StopGrace = 5 * time.Second

// pluginProc is a started plugin. Signals reach it only before it is
// reaped, so a pid the kernel has handed to another process since is
// never signalled.
type pluginProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex // held while signalling and while reaping
	reaped bool
	done   chan struct{}
	err    error                                   // from Wait, once done is closed
	kill   func(pid int, sig syscall.Signal) error // syscall.Kill; tests record
}

// startPlugin starts cmd and reaps it when it exits.
func startPlugin(cmd *exec.Cmd) (*pluginProc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &pluginProc{cmd: cmd, done: make(chan struct{}), kill: syscall.Kill}
	go p.reap()
	return p, nil
}

func (p *pluginProc) reap() {
	// Until the zombie is reaped its pid (and process group id) cannot be
	// reused; signal() checks reaped under the same lock.
	_ = waitExited(p.cmd.Process.Pid)
	p.mu.Lock()
	p.reaped = true
	p.err = p.cmd.Wait()
	p.mu.Unlock()
	close(p.done)
}

// signal sends sig to the plugin (and to its process group: its own
// session, so pgid == pid) unless it has been reaped.
func (p *pluginProc) signal(sig syscall.Signal, group bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return
	}
	pid := p.cmd.Process.Pid
	if group {
		_ = p.kill(-pid, sig)
	}
	_ = p.kill(pid, sig)
}

// stop asks the plugin to end (SIGTERM: it finishes a hosts write under
// way, starts no other, and exits), kills its process group if it is still
// there after grace, and returns its exit status.
func (p *pluginProc) stop(grace time.Duration) error {
	p.signal(syscall.SIGTERM, false)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
	}
	p.signal(syscall.SIGKILL, true)
	<-p.done
	return p.err
}
