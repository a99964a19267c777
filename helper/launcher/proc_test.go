package launcher

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

type killLog struct {
	mu    sync.Mutex
	calls []string
}

func (k *killLog) kill(pid int, sig syscall.Signal) error {
	k.mu.Lock()
	k.calls = append(k.calls, fmt.Sprintf("%d %v", pid, sig))
	k.mu.Unlock()
	return syscall.Kill(pid, sig)
}

// start runs script, which prints a line once its traps are set.
func start(t *testing.T, script string) (*pluginProc, *killLog) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stdout = w
	p, err := startPlugin(cmd)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(r).ReadString('\n'); err != nil {
		t.Fatalf("child: %v", err)
	}
	k := &killLog{}
	p.mu.Lock()
	p.kill = k.kill
	p.mu.Unlock()
	return p, k
}

func TestPluginStop(t *testing.T) {
	t.Run("a reaped plugin is never signalled", func(t *testing.T) {
		p, k := start(t, "echo go; exit 3")
		<-p.done
		err := p.stop(time.Hour)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			t.Fatalf("stop = %v, want exit status 3", err)
		}
		p.signal(syscall.SIGKILL, true)
		if len(k.calls) != 0 {
			t.Fatalf("signals sent after the plugin was reaped: %v", k.calls)
		}
	})
	t.Run("SIGTERM first; a plugin that stops gets nothing else", func(t *testing.T) {
		p, k := start(t, "trap 'exit 0' TERM; echo ready; while :; do sleep 0.01; done")
		pid := p.cmd.Process.Pid
		if err := p.stop(time.Hour); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if want := fmt.Sprintf("%d terminated", pid); len(k.calls) != 1 || k.calls[0] != want {
			t.Fatalf("signals %v, want only %q", k.calls, want)
		}
	})
	t.Run("after the grace, its process group is killed", func(t *testing.T) {
		p, k := start(t, "trap '' TERM; echo ready; while :; do sleep 0.01; done")
		pid := p.cmd.Process.Pid
		p.stop(50 * time.Millisecond)
		want := []string{fmt.Sprintf("%d terminated", pid), fmt.Sprintf("%d killed", -pid), fmt.Sprintf("%d killed", pid)}
		if fmt.Sprint(k.calls) != fmt.Sprint(want) {
			t.Fatalf("signals %v, want %v", k.calls, want)
		}
	})
}
