//go:build e2e

// Package helper_test runs kftray's forwarder as an unprivileged user
// against the dev cluster, with the real root helper binding port 80 on an
// allocated loopback address and naming it in /etc/hosts, and checks that
// curl http://web.dev.test/ reaches a pod.
//
// It needs root (useradd, namespaces). As root, TestMain re-runs the test
// binary in a fresh network and mount namespace, where the dev cluster,
// the helper, the forwarder and curl all live, and where /etc/hosts is a
// temp file bind-mounted over the real one.
package helper_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/internal/privtest"
)

const testUser = "kftray-e2e"

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(privtest.RunInNamespaces(func() int { return cluster.Main(m) }))
}

func TestCurlThroughHelperAsUnprivilegedUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: useradd, namespaces, the helper")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	c := cluster.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := c.Namespace(t)
	if err := c.Deploy(ctx, ns, cluster.App{Name: "web", Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, "web", 2)
	if err != nil {
		t.Fatal(err)
	}

	// A world the test user can reach: binaries, kubeconfig, sockets.
	world := privtest.SharedDir(t, "kftray-e2e-helper-")
	privtest.Build(t, world, map[string]string{
		"kftray-helper": "github.com/kftray-go/kftray/cmd/kftray-helper",
		"fwdprobe":      "./testdata/fwdprobe",
	})
	kc, _ := os.ReadFile(c.Kubeconfig)
	kubeconfig := filepath.Join(world, "kubeconfig")
	os.WriteFile(kubeconfig, kc, 0o644)

	uid, gid := privtest.User(t, testUser)

	// /etc/hosts: a temp copy bind-mounted over it, in this mount namespace only.
	orig, _ := os.ReadFile("/etc/hosts")
	tmpHosts := filepath.Join(world, "hosts")
	os.WriteFile(tmpHosts, orig, 0o644)
	if out, err := exec.Command("mount", "--bind", tmpHosts, "/etc/hosts").CombinedOutput(); err != nil {
		t.Fatalf("bind mount /etc/hosts: %v\n%s", err, out)
	}
	defer exec.Command("umount", "/etc/hosts").Run()

	os.MkdirAll(filepath.Join(world, "etc"), 0o755)
	cfgPath := filepath.Join(world, "etc", "config.json")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`{"allowed_uids": [%d]}`, uid)), 0o644)
	sock := filepath.Join(world, "helper.sock")
	svc := exec.Command(filepath.Join(world, "kftray-helper"), "service", "--socket", sock,
		"--config", cfgPath, "--hosts", "/etc/hosts", "--run-dir", filepath.Join(world, "run"))
	svc.Stderr = os.Stderr
	svc.Env = []string{"PATH=/usr/bin:/bin", "KFTRAY_LOG_LEVEL=warn"}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { svc.Process.Signal(syscall.SIGTERM); svc.Wait() }()
	privtest.WaitFor(t, 20*time.Second, "the helper socket", func() bool { _, err := os.Stat(sock); return err == nil })

	probe := privtest.As(exec.Command(filepath.Join(world, "fwdprobe"), sock, kubeconfig, c.Context, ns, "web", "web.dev.test"), uid, gid)
	probe.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + world}
	stdin, _ := probe.StdinPipe()
	stdout, _ := probe.StdoutPipe()
	probe.Stderr = os.Stderr
	if err := probe.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { probe.Process.Kill(); probe.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") {
		t.Fatalf("forwarder did not start: %q %v", line, err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "READY "))
	if !strings.HasPrefix(addr, "127.77.") || !strings.HasSuffix(addr, ":80") {
		t.Fatalf("forward listens on %s, want an allocated 127.77.x.y:80", addr)
	}
	hosts, _ := os.ReadFile("/etc/hosts")
	if !strings.Contains(string(hosts), strings.TrimSuffix(addr, ":80")) || !strings.Contains(string(hosts), "web.dev.test") {
		t.Fatalf("/etc/hosts lacks web.dev.test -> %s:\n%s", addr, hosts)
	}

	// The real thing: a name lookup through /etc/hosts, port 80, a pod's answer.
	for i := 0; i < 3; i++ {
		out, err := exec.CommandContext(ctx, curl, "-sS", "--max-time", "10", "http://web.dev.test/").CombinedOutput()
		got := strings.TrimSpace(string(out))
		if err != nil || (got != pods[0] && got != pods[1]) {
			t.Fatalf("curl http://web.dev.test/: %v: %q (pods %v)", err, out, pods)
		}
		t.Logf("curl http://web.dev.test/ -> %s (via %s, forwarder uid %d)", got, addr, uid)
	}

	// The forwarder exits: its hosts line goes, /etc/hosts is as it was.
	stdin.Close()
	probe.Wait()
	privtest.WaitFor(t, 20*time.Second, "web.dev.test to leave /etc/hosts", func() bool {
		b, _ := os.ReadFile("/etc/hosts")
		return string(b) == string(orig)
	})
}
