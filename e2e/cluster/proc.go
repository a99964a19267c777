package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// proc is one component running as a child process of the devcluster
// binary, its output in logs/<name>.log.
type proc struct {
	name string
	args []string
	log  string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been waited for
	err  error
}

// spawner starts every child from one goroutine locked to its OS thread:
// Pdeathsig fires when the thread that forked the child exits, not the
// process, so that thread must live as long as the children.
type spawner struct {
	reqs chan spawnReq
	quit chan struct{}
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), quit: make(chan struct{})}
	go func() {
		runtime.LockOSThread()
		// Never unlocked: when this goroutine ends, its thread ends too,
		// which is only done after every child has been waited for.
		for {
			select {
			case r := <-s.reqs:
				r.err <- r.cmd.Start()
			case <-s.quit:
				return
			}
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	select {
	case s.reqs <- r:
		return <-r.err
	case <-s.quit:
		return errors.New("cluster is stopped")
	}
}

func (s *spawner) close() { close(s.quit) }

func (p *proc) start(s *spawner, bin, dir string) error {
	p.log = filepath.Join(dir, "logs", p.name+".log")
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%s: log file: %w", p.name, err)
	}
	cmd := exec.Command(bin, append([]string{p.name}, p.args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	// A small, fixed environment: nothing from the test's environment leaks
	// into the components (HOME is where KWOK keeps its state).
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/local/bin:/usr/bin:/bin"}
	cmd.SysProcAttr = sysProcAttr()
	if err := s.start(cmd); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	f.Close() // the child holds its own copy
	p.cmd = cmd
	p.done = make(chan struct{})
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return nil
}

func (p *proc) exited() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, and SIGKILL after grace (at
// once when grace is 0).
func (p *proc) stop(grace time.Duration) {
	if p.cmd == nil || p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	if grace == 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	// Anything the component left in its group goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// failure describes a process that exited, with the end of its log.
func (p *proc) failure() error {
	return fmt.Errorf("%s exited (%v); last log lines:\n%s", p.name, p.err, p.tail(20))
}

func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// waitFor polls ready until it returns nil, the process exits, or ctx ends.
func (p *proc) waitFor(ctx context.Context, what string, ready func(context.Context) error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		if p.exited() {
			return p.failure()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not ready: %v (last error: %v); log %s", p.name, what, ctx.Err(), last, p.log)
		case <-tick.C:
		}
	}
}
