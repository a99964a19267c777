//go:build e2e

// Package tui_test runs the real kftui binary in tmux against the dev
// cluster (e2e/cluster) and the real kftray daemon it starts on demand:
// what a person sees and types. Run with
//
//	KFTRAY_DEVCLUSTER_BIN=... go test -tags e2e ./e2e/tui/
package tui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/localapi"
)

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

// build compiles kftui and kftray into one directory, so that kftui finds
// the kftray next to it to start the daemon, as when installed.
func build(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for _, p := range []string{"kftui", "kftray"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, p), "github.com/kftray-go/kftray/cmd/"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", p, err, out)
		}
	}
	return bin
}

// tmuxSession is kftui in a detached tmux session on a private server.
type tmuxSession struct {
	t    *testing.T
	sock string
	name string // the current session; earlier ones stay until the server is killed
	n    int
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) screen() string { return s.tmux("capture-pane", "-p", "-t", s.name) }

func (s *tmuxSession) keys(keys ...string) {
	s.tmux(append([]string{"send-keys", "-t", s.name}, keys...)...)
}

// waitScreen polls the screen until cond holds (60 s at most, so that a
// broken run fails instead of hanging) and returns it.
func (s *tmuxSession) waitScreen(what string, cond func(string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		scr := s.screen()
		if cond(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("gave up waiting for %s; the screen:\n%s", what, scr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// row returns the screen line of the config named name.
func row(scr, name string) string {
	for _, l := range strings.Split(scr, "\n") {
		if f := strings.Fields(strings.TrimLeft(l, ">* ")); len(f) > 0 && f[0] == name {
			return l
		}
	}
	return ""
}

var addrRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)

// TestTUIOnTheDevCluster: start a forward from kftui, see it running on
// its pod, curl through it, delete the pod and see kftui show the
// replacement, stop it, and check with `kftray status` that the daemon
// agrees.
func TestTUIOnTheDevCluster(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed (apt-get install tmux):", err)
	}
	c := cluster.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	if err := c.Deploy(ctx, ns, cluster.App{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, "web", 1)
	if err != nil {
		t.Fatal(err)
	}

	bin := build(t)
	dir, err := os.MkdirTemp("", "kftui")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "KFTRAY_CONFIG="+dir)
	kftray := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "kftray"), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kftray %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(bin, "kftray"), "daemon", "stop")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("kftray daemon stop: %v\n%s", err, out)
		}
		os.RemoveAll(dir)
	})
	kftray("config", "add", "--name", "web", "-n", ns, "--service", "web", "--remote-port", "80",
		"--kubeconfig", c.Kubeconfig, "--context", c.Context)

	s := &tmuxSession{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	// No daemon runs yet: kftui starts one. The shell prints kftui's exit
	// status so that the test can see it quit cleanly.
	s.start(bin, dir)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", s.sock, "kill-server").Run() })

	scr := s.waitScreen("web, stopped", func(scr string) bool { return strings.Contains(row(scr, "web"), "stopped") })
	t.Logf("kftui at start:\n%s", scr)

	s.keys("Enter") // the only row: start it
	scr = s.waitScreen("web running on "+pods[0], func(scr string) bool {
		r := row(scr, "web")
		return strings.Contains(r, "running") && strings.Contains(r, pods[0])
	})
	addr := addrRE.FindString(row(scr, "web"))
	if addr == "" {
		t.Fatalf("no address on the row:\n%s", scr)
	}
	if got := curl(t, addr); got != pods[0] {
		t.Fatalf("curl %s: answered by %q, want %s", addr, got, pods[0])
	}
	t.Logf("kftui running:\n%s", scr)

	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, pods[0], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	repl, err := c.ReadyPods(ctx, ns, "web", 1, pods[0])
	if err != nil {
		t.Fatal(err)
	}
	s.waitScreen("the replacement pod "+repl[0], func(scr string) bool {
		r := row(scr, "web")
		return strings.Contains(r, "running") && strings.Contains(r, repl[0])
	})
	if got := curl(t, addr); got != repl[0] {
		t.Fatalf("after the pod change answered by %q, want %s", got, repl[0])
	}

	s.keys("x")
	s.waitScreen("web stopped", func(scr string) bool { return strings.Contains(row(scr, "web"), "stopped") })
	if fs := status(t, kftray); fs[0].Name != "web" || fs[0].Status != localapi.StatusStopped || fs[0].Desired {
		t.Fatalf("kftray status --json after stopping in kftui: %+v; want web stopped and not desired", fs)
	}

	s.keys("q")
	s.waitScreen("kftui to quit", func(scr string) bool { return strings.Contains(scr, "kftui exited 0") })

	// Quitting leaves a forward running in the daemon, and says so.
	s.start(bin, dir)
	s.waitScreen("web, stopped", func(scr string) bool { return strings.Contains(row(scr, "web"), "stopped") })
	s.keys("s")
	s.waitScreen("web running", func(scr string) bool { return strings.Contains(row(scr, "web"), "running") })
	s.keys("C-c")
	s.waitScreen("the goodbye", func(scr string) bool {
		return strings.Contains(scr, "kftui: 1 forward keeps running in the kftray daemon") && strings.Contains(scr, "kftui exited 0")
	})
	if fs := status(t, kftray); fs[0].Status != localapi.StatusRunning {
		t.Fatalf("after quitting kftui: %+v; want web still running", fs[0])
	}

	// --stop-on-exit stops what this kftui started: here nothing (web was
	// running before), then web once started from it.
	s.start(bin, dir, "--stop-on-exit")
	s.waitScreen("web, running", func(scr string) bool { return strings.Contains(row(scr, "web"), "running") })
	s.keys("x")
	s.waitScreen("web stopped", func(scr string) bool { return strings.Contains(row(scr, "web"), "stopped") })
	s.keys("Enter")
	s.waitScreen("web running", func(scr string) bool { return strings.Contains(row(scr, "web"), "running") })
	s.keys("q")
	s.waitScreen("the goodbye", func(scr string) bool {
		return strings.Contains(scr, "kftui: stopped 1 forward started here (--stop-on-exit)") && strings.Contains(scr, "kftui exited 0")
	})
	if fs := status(t, kftray); fs[0].Status != localapi.StatusStopped {
		t.Fatalf("after kftui --stop-on-exit: %+v; want web stopped", fs[0])
	}

	// Headless: start every config, one line each, as kftray start.
	cmd := exec.Command(filepath.Join(bin, "kftui"), "--non-interactive", "--auto-start")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), "web: ") || !strings.Contains(string(out), " on 127.0.0.1:") {
		t.Fatalf("kftui --non-interactive --auto-start: %v\n%s", err, out)
	}
	kftray("stop", "web")

	// The form: the namespace and the Service come from the cluster (tab
	// completes what was typed), the daemon stores the config.
	s.start(bin, dir)
	s.waitScreen("the list", func(scr string) bool { return strings.Contains(row(scr, "web"), "stopped") })
	s.keys("a")
	s.waitScreen("the form", func(scr string) bool { return strings.Contains(scr, "add a config") })
	s.keys("web2", "Tab", "Tab", "Tab", c.Kubeconfig, "Tab") // workload, protocol, kubeconfig, context
	s.waitScreen("the contexts", func(scr string) bool { return strings.Contains(scr, "in the cluster: "+c.Context) })
	s.keys(c.Context[:3], "Tab", "Tab") // completes the context, then the namespace
	s.waitScreen("the namespaces", func(scr string) bool { return strings.Contains(scr, "in the cluster: ") && strings.Contains(scr, ns) })
	s.keys("C-u", ns[:len(ns)-3], "Tab") // completes the namespace
	s.waitScreen("the namespace completed", func(scr string) bool { return strings.Contains(scr, "namespace       "+ns) })
	s.keys("Tab")
	s.waitScreen("the Services", func(scr string) bool { return strings.Contains(scr, "in the cluster: web") })
	s.keys("w", "Tab", "Tab") // completes web, then the remote port
	s.waitScreen("web's ports", func(scr string) bool { return strings.Contains(scr, "in the cluster: 80") })
	s.keys("80", "Enter")
	s.waitScreen("the new config", func(scr string) bool { return strings.Contains(row(scr, "web2"), "stopped") })
	var all []localapi.Forward
	if err := json.Unmarshal([]byte(kftray("status", "--json")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[1].Name != "web2" || all[1].Config.Service != "web" || all[1].Config.Namespace != ns || all[1].Config.RemotePort != 80 {
		t.Fatalf("after adding web2 in kftui's form: %+v", all)
	}
}

// start runs kftui in a new session; the shell then prints its exit status.
func (s *tmuxSession) start(bin, dir string, args ...string) {
	s.n++
	s.name = fmt.Sprintf("kftui%d", s.n)
	s.tmux("new-session", "-d", "-s", s.name, "-x", "120", "-y", "40", "-e", "KFTRAY_CONFIG="+dir, "-e", "TERM=xterm-256color",
		"sh", "-c", filepath.Join(bin, "kftui")+" "+strings.Join(args, " ")+"; echo kftui exited $?; sleep 600")
}

func status(t *testing.T, kftray func(...string) string) []localapi.Forward {
	t.Helper()
	var fs []localapi.Forward
	if err := json.Unmarshal([]byte(kftray("status", "--json")), &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("kftray status --json: %+v", fs)
	}
	return fs
}

func curl(t *testing.T, addr string) string {
	t.Helper()
	out, err := exec.Command("curl", "-sS", "--max-time", "10", "http://"+addr+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("curl http://%s/: %v\n%s", addr, err, out)
	}
	return strings.TrimSpace(string(out))
}
