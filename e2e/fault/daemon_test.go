//go:build e2e && linux

package fault_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// TestDaemonSIGKILLRestores kills the real `kftray daemon` with SIGKILL
// while it runs a forward to the dev cluster: nothing may go on saying the
// forward runs, and the next daemon restores it and serves through it.
func TestDaemonSIGKILLRestores(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	pods := deploy(t, c, ns, 1)
	bin := kftraytest.Build(t)
	dir, err := os.MkdirTemp("", "kff") // short: the socket path must fit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := webConfig(c, ns, 0, 80)
	cfg.Alias = "web"
	if err := st.AddConfig(ctx, &cfg); err != nil {
		t.Fatal(err)
	}

	a := startDaemon(t, bin, dir)
	cl := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	if _, err := cl.Start(ctx, localapi.Selection{Refs: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	f := kftraytest.WaitForward(t, cl, "web", "web running in the first daemon", func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.PID == a.pid()
	})
	if name, err := whoami(ctx, nil, f.Address); err != nil || name != pods[0] {
		t.Fatalf("through the first daemon: %q %v", name, err)
	}

	a.kill(t)
	if _, err := net.DialTimeout("tcp", f.Address, time.Second); err == nil {
		t.Errorf("%s still accepts connections after the daemon was killed", f.Address)
	}
	// No reader may see it running now.
	fs, err := daemon.StoredForwards(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, sf := range fs {
		if sf.Status == localapi.StatusRunning {
			t.Errorf("after SIGKILL the store still shows %s running: %+v", sf.Name, sf)
		}
	}

	b := startDaemon(t, bin, dir)
	f2 := kftraytest.WaitForward(t, cl, "web", "web restored in the second daemon", func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.PID == b.pid()
	})
	name, took := eventually(t, nil, f2.Address, pods[0], 30*time.Second)
	t.Logf("restored by the second daemon on %s (was %s), serving %s, first request OK after %v", f2.Address, f.Address, name, took.Round(time.Millisecond))
	b.term(t)
}

type daemonProc struct {
	cmd  *exec.Cmd
	out  *kftraytest.SyncBuffer
	done chan struct{}
}

// startDaemon runs `kftray daemon` on config directory dir and waits until
// its API answers.
func startDaemon(t *testing.T, bin, dir string) *daemonProc {
	t.Helper()
	cmd := exec.Command(bin, "daemon", "--no-http")
	cmd.Env = []string{"KFTRAY_CONFIG=" + dir, "HOME=" + dir, "PATH=/usr/bin:/bin"}
	d := &daemonProc{cmd: cmd, out: &kftraytest.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-d.done
	})
	cl := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := cl.Status(ctx)
		cancel()
		if err == nil && s.PID == cmd.Process.Pid {
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("kftray daemon exited: %s", d.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kftray daemon API not answering after 30s (last: %v); output:\n%s", err, d.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemonProc) pid() int { return d.cmd.Process.Pid }

func (d *daemonProc) kill(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatal("daemon still alive 10s after SIGKILL")
	}
}

func (d *daemonProc) term(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Errorf("daemon still running 30s after SIGTERM; output:\n%s", d.out)
	}
}
