//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/localapi"
)

// TestStartRightAfterDaemonSIGKILL: the daemon is killed with SIGKILL;
// the very next `kftray start --all` (which starts a new daemon) exits 0
// with the forward running, and nothing blames the dead daemon. The daemon
// is the one `kftray start` spawned (reaped by init at once), or one whose
// parent has not reaped it yet (a zombie, as under a slow supervisor).
func TestStartRightAfterDaemonSIGKILL(t *testing.T) {
	for _, zombie := range []bool{false, true} {
		name := "spawned"
		if zombie {
			name = "zombie"
		}
		t.Run(name, func(t *testing.T) { startAfterKill(t, zombie) })
	}
}

func startAfterKill(t *testing.T, zombie bool) {
	c, ns, pods := deployWeb(t, cluster.App{Name: "web"})
	ctx := context.Background()
	k, dir := kftraytest.New(t, "kfe")
	addWeb(k, c, ns)
	var reap func()
	if zombie {
		// This test is the daemon's parent, and waits for it only at the end.
		d := k.Command("daemon", "--no-http")
		d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		reap = func() { d.Wait() }
		t.Cleanup(func() { d.Process.Kill(); reap() })
	}
	k.Run("start", "web", "--wait", "60s")
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kftraytest.WaitForward(t, client, "web", "web running in the first daemon", func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.PID == st.PID
	})
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	cmd := k.Command("start", "--all", "--wait", "60s")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	took := time.Since(killed)
	if err != nil {
		t.Fatalf("kftray start --all right after the daemon (pid %d) was killed: %v\nstdout:\n%s\nstderr:\n%s", st.PID, err, out.String(), errOut.String())
	}
	if all := out.String() + errOut.String(); strings.Contains(all, strconv.Itoa(st.PID)) {
		t.Fatalf("the output names the dead daemon %d:\n%s", st.PID, all)
	}
	if !strings.HasPrefix(out.String(), "web: running on 127.0.0.1:") {
		t.Fatalf("kftray start --all said %q; want web running", out.String())
	}
	t.Logf("kill -9 of daemon %d -> kftray start --all --wait exited 0 with web running after %v", st.PID, took.Round(time.Millisecond))
	st2, err := client.Status(ctx)
	if err != nil || st2.PID == st.PID {
		t.Fatalf("status after restart: %+v %v", st2, err)
	}
	f := kftraytest.WaitForward(t, client, "web", "web running in the new daemon", func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.PID == st2.PID
	})
	if got := kftraytest.Get(t, f.Address); got != pods[0] {
		t.Fatalf("answered by %q, want %s", got, pods[0])
	}
}

// TestStartAfterKilledRunZombie: a `kftray run` is killed with SIGKILL
// and not reaped yet (a zombie: kill(pid, 0) still succeeds on it); the
// next `kftray start` takes its forward over instead of saying it is
// "already forwarded by kftray process N (running), probably 'kftray run'".
func TestStartAfterKilledRunZombie(t *testing.T) {
	c, ns, pods := deployWeb(t, cluster.App{Name: "web"})
	k, _ := kftraytest.New(t, "kfe")
	addWeb(k, c, ns)
	run := k.Command("run", "web")
	var runOut kftraytest.SyncBuffer
	run.Stdout, run.Stderr = &runOut, &runOut
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	kftraytest.Poll(t, "kftray run web to run it", func() (bool, string) {
		return strings.Contains(k.Run("status"), "running"), "its output:\n" + runOut.String()
	})
	if err := run.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	cmd := k.Command("start", "--all", "--wait", "60s")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	took := time.Since(killed)
	if err != nil {
		t.Fatalf("kftray start --all after kftray run (pid %d) was killed: %v\nstdout:\n%s\nstderr:\n%s", run.Process.Pid, err, out.String(), errOut.String())
	}
	if all := out.String() + errOut.String(); strings.Contains(all, strconv.Itoa(run.Process.Pid)) {
		t.Fatalf("the output names the dead process %d:\n%s", run.Process.Pid, all)
	}
	t.Logf("kill -9 of kftray run %d (left a zombie) -> kftray start --all --wait exited 0 after %v: %s", run.Process.Pid, took.Round(time.Millisecond), strings.TrimSpace(out.String()))
	fs := k.Status()
	if len(fs) != 1 || fs[0].Status != localapi.StatusRunning || fs[0].Pod != pods[0] {
		t.Fatalf("status: %+v", fs)
	}
	if got := kftraytest.Get(t, fs[0].Address); got != pods[0] {
		t.Fatalf("answered by %q, want %s", got, pods[0])
	}
}
