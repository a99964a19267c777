//go:build e2e

// Package e2e_test drives the kftray CLI and its daemon against the dev
// cluster (e2e/cluster): real API server, Deployment, EndpointSlices and
// the kubelet's port-forward code. Run with
//
//	go test -tags e2e ./forwarder/daemon/e2e/
package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/localapi"
)

// TestMain: this binary, copied under the name kftray, is the kftray
// command (so the daemon it starts on demand is this code too).
func TestMain(m *testing.M) { os.Exit(kftraytest.Main(m)) }

// deployWeb deploys app (named "web", one replica) in a fresh namespace
// of the dev cluster and waits until its pod is ready.
func deployWeb(t *testing.T, app cluster.App) (c *cluster.Cluster, ns string, pods []string) {
	t.Helper()
	c = cluster.Get(t)
	ns = c.Namespace(t)
	if err := c.Deploy(context.Background(), ns, app); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(context.Background(), ns, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	return c, ns, pods
}

// addWeb adds the forward "web" to port 80 of Service web in ns, through
// the dev cluster's kubeconfig and context.
func addWeb(k *kftraytest.CLI, c *cluster.Cluster, ns string) {
	k.Run("config", "add", "--name", "web", "-n", ns, "--service", "web", "--remote-port", "80",
		"--kubeconfig", c.Kubeconfig, "--context", c.Context)
}

// TestCLIAndDaemonOnTheDevCluster: kftray start (daemon on demand), traffic,
// the served pod deleted (events and status show the replacement), the
// daemon stopped (state stopped) and started (forward restored), stop.
func TestCLIAndDaemonOnTheDevCluster(t *testing.T) {
	c, ns, pods := deployWeb(t, cluster.App{Name: "web"})
	ctx := context.Background()
	k, dir := kftraytest.New(t, "kfe")
	addWeb(k, c, ns)

	out := k.Run("start", "web", "--wait", "60s")
	if !strings.HasPrefix(out, "web: running on 127.0.0.1:") || !strings.Contains(out, "-> pod "+pods[0]) {
		t.Fatalf("kftray start web --wait said %q; want running on its pod %s", out, pods[0])
	}
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()
	f := kftraytest.WaitForward(t, client, "web", "web running on "+pods[0], func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.Pod == pods[0]
	})
	if got := kftraytest.Get(t, f.Address); got != pods[0] {
		t.Fatalf("answered by %q, want %s", got, pods[0])
	}

	// The served pod goes away: the event stream reports the replacement.
	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	podEvents := make(chan string, 64)
	go client.Events(evctx, func(ev localapi.Event) error {
		if ev.Forward != nil && ev.Forward.Status == localapi.StatusRunning {
			select {
			case podEvents <- ev.Forward.Pod:
			default:
			}
		}
		return nil
	})
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, pods[0], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	repl, err := c.ReadyPods(ctx, ns, "web", 1, pods[0])
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(60 * time.Second)
	for got := ""; got != repl[0]; {
		select {
		case got = <-podEvents:
		case <-timeout:
			t.Fatalf("no event with the replacement pod %s within 60s", repl[0])
		}
	}
	if got := kftraytest.Get(t, f.Address); got != repl[0] {
		t.Fatalf("after the pod change answered by %q, want %s", got, repl[0])
	}
	fs := k.Status()
	if len(fs) != 1 || fs[0].Status != localapi.StatusRunning || fs[0].Pod != repl[0] || fs[0].TotalConns < 2 || fs[0].BytesFromPod == 0 {
		t.Fatalf("kftray status --json: %+v; want web running on %s with counters", fs, repl[0])
	}
	if table := k.Run("status"); !strings.Contains(table, repl[0]) || !strings.Contains(table, "running") {
		t.Fatalf("kftray status:\n%s", table)
	}

	// Stop the daemon: the forward stops and says so; the next daemon
	// restores it.
	k.Run("daemon", "stop")
	if fs := k.Status(); fs[0].Status != localapi.StatusStopped || !fs[0].Desired {
		t.Fatalf("after daemon stop: %+v; want stopped and still desired", fs[0])
	}
	k.Run("daemon", "start")
	f = kftraytest.WaitForward(t, client, "web", "web restored", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	if got := kftraytest.Get(t, f.Address); got != repl[0] {
		t.Fatalf("restored forward answered by %q, want %s", got, repl[0])
	}

	if out := k.Run("stop", "web"); out != "web: stopped\n" {
		t.Fatalf("kftray stop web said %q", out)
	}
	if fs := k.Status(); fs[0].Status != localapi.StatusStopped || fs[0].Desired {
		t.Fatalf("after stop: %+v; want stopped, not desired", fs[0])
	}
	k.Run("daemon", "stop")
}

// rssKiB is a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kib int
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib)
			return kib
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestHundredForwardsThroughTheDaemon: `kftray start --all` with 100
// configs; all run and serve; the daemon's memory per forward is logged.
func TestHundredForwardsThroughTheDaemon(t *testing.T) {
	const n = 100
	c := cluster.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	if err := c.Deploy(ctx, ns, cluster.App{Name: "web", Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadyPods(ctx, ns, "web", 2); err != nil {
		t.Fatal(err)
	}
	k, dir := kftraytest.New(t, "kfe")
	// config add, not import: import would merge these 100 (same identity).
	for i := range n {
		k.Run("config", "add", "--name", fmt.Sprintf("web-%d", i), "-n", ns, "--service", "web", "--remote-port", "80",
			"--kubeconfig", c.Kubeconfig, "--context", c.Context)
	}
	k.Run("daemon", "start")
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := rssKiB(t, st.PID)

	start := time.Now()
	k.Run("start", "--all")
	var fs []localapi.Forward
	deadline := time.Now().Add(60 * time.Second)
	for {
		fs, err = client.Forwards(ctx)
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, f := range fs {
			if f.Status == localapi.StatusRunning {
				running++
			}
		}
		if running == n {
			break
		}
		if time.Now().After(deadline) {
			for i, f := range fs {
				if f.Status != localapi.StatusRunning && i < 5 {
					t.Logf("%s: %s pid %d addr %s err %q", f.Name, f.Status, f.PID, f.Address, f.LastError)
				}
			}
			t.Fatalf("%d of %d forwards running after 60s", running, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	allRunning := time.Since(start)
	for _, f := range fs {
		if got := kftraytest.Get(t, f.Address); got == "" {
			t.Fatalf("%s answered nothing", f.Name)
		}
	}
	after := rssKiB(t, st.PID)
	t.Logf("%d forwards: all running %v after `kftray start --all`; daemon RSS %d KiB before, %d KiB after (%.1f KiB per forward)",
		n, allRunning.Round(time.Millisecond), before, after, float64(after-before)/n)
	k.Run("stop", "--all")
	k.Run("daemon", "stop")
}
