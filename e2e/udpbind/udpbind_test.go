//go:build e2e

// Package udpbind_test runs a UDP relay forward on the dev cluster as an
// unprivileged user, with the real root helper binding udp port 53 on an
// allocated loopback address and naming it in /etc/hosts: the path a
// `protocol=udp` config with local_port 53, auto_loopback_address and
// domain_enabled takes.
//
// It needs root (useradd, namespaces). As root, TestMain re-runs the test
// binary in a fresh network and mount namespace (ip_unprivileged_port_start
// is 1024 there), where the dev cluster, the helper, the forwarder and the
// relay's kftray-server process all live, and where /etc/hosts is a temp
// file bind-mounted over the real one.
package udpbind_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/internal/privtest"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

const (
	testUser = "kftray-e2e-udp"
	wait     = 60 * time.Second
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(privtest.RunInNamespaces(func() int { return cluster.Main(m) }))
}

func TestUDPPort53WithHostnameThroughHelper(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: useradd, namespaces, the helper")
	}
	c := cluster.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := c.Namespace(t)
	dnsPod, dnsAddr := c.UDPEcho(t, ns)

	// A world the test user can reach: binaries, kubeconfig, sockets.
	world, err := os.MkdirTemp("", "kftray-e2e-udpbind-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(world)
	os.Chmod(world, 0o755)
	for _, b := range [][2]string{
		{"kftray-helper", "github.com/kftray-go/kftray/cmd/kftray-helper"},
		{"kftray-server", "github.com/kftray-go/kftray/cmd/kftray-server"},
		{"udpfwd", "./testdata/udpfwd"},
	} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(world, b[0]), b[1]).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", b[1], err, out)
		}
	}
	backend := startServer(t, filepath.Join(world, "kftray-server"), dnsAddr)
	kc, _ := os.ReadFile(c.Kubeconfig)
	kubeconfig := filepath.Join(world, "kubeconfig")
	os.WriteFile(kubeconfig, kc, 0o644)

	if _, err := user.Lookup(testUser); err != nil {
		if out, err := exec.Command("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", testUser).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v\n%s", err, out)
		}
	}
	u, _ := user.Lookup(testUser)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

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
	privtest.WaitFor(t, wait, "the helper socket", func() bool { _, err := os.Stat(sock); return err == nil })

	probe := exec.Command(filepath.Join(world, "udpfwd"), sock, kubeconfig, c.Context, ns, "dns", "dns.dev.test",
		cluster.AnnotationBackendAddr+"="+backend)
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
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
	ip, port, _ := net.SplitHostPort(addr)
	if !strings.HasPrefix(ip, "127.77.") || port != "53" {
		t.Fatalf("UDP forward bound %s, want an allocated 127.77.x.y:53", addr)
	}
	hosts, _ := os.ReadFile("/etc/hosts")
	if !strings.Contains(string(hosts), ip) || !strings.Contains(string(hosts), "dns.dev.test") {
		t.Fatalf("/etc/hosts lacks dns.dev.test -> %s:\n%s", ip, hosts)
	}

	// The real thing: the name through /etc/hosts, udp port 53, the pod's
	// answer through the relay.
	ra, err := net.ResolveUDPAddr("udp4", "dns.dev.test:53")
	if err != nil || ra.String() != addr {
		t.Fatalf("resolve dns.dev.test:53 = %v, %v; want %s", ra, err, addr)
	}
	conn, err := net.DialUDP("udp4", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := dnsPod + ": A web.dev.test"
	if got := ask(t, conn, "A web.dev.test", want); got != want {
		t.Fatalf("reply %q, want %q", got, want)
	}
	t.Logf("udp dns.dev.test:53 (%s, forwarder uid %d) -> %q", addr, uid, want)
	// Round trips on the warm forward, logged (not asserted): the helper
	// only bound the socket, so this is the relay path's own speed.
	const n = 200
	rtts := make([]time.Duration, 0, n)
	for i := range n {
		q := fmt.Sprintf("q%d", i)
		t0 := time.Now()
		ask(t, conn, q, dnsPod+": "+q)
		rtts = append(rtts, time.Since(t0))
	}
	slices.Sort(rtts)
	t.Logf("%d request/reply round trips through dns.dev.test:53: p50 %v, p99 %v", n, rtts[n/2], rtts[n*99/100])

	// The forwarder exits: its hosts line goes, /etc/hosts is as it was,
	// the port is free and the relay is deleted.
	stdin.Close()
	probe.Wait()
	privtest.WaitFor(t, wait, "dns.dev.test to leave /etc/hosts", func() bool {
		b, _ := os.ReadFile("/etc/hosts")
		return string(b) == string(orig)
	})
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("udp %s still held after the forwarder exited: %v", addr, err)
	}
	pc.Close()
	name := manifest.Name(1, "udpbind")
	if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("relay Deployment %s after the forwarder exited: %v", name, err)
	}
}

// ask sends q until the reply want arrives (a DNS client retries too),
// skipping late replies to earlier tries.
func ask(t *testing.T, c net.Conn, q, want string) string {
	t.Helper()
	buf := make([]byte, 65536)
	var last string
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		c.Write([]byte(q))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			if last = string(buf[:n]); last == want {
				return last
			}
		}
	}
	t.Fatalf("no reply %q to %q within %s (last: %q)", want, q, wait, last)
	return ""
}

// startServer runs a kftray-server process in udp mode, as the relay pod's
// container would run, and returns the address the relay pod's
// port-forwards should reach.
func startServer(t *testing.T, bin, remote string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(remote)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	local := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PROXY_TYPE=udp", "REMOTE_ADDRESS=" + host, "REMOTE_PORT=" + port,
		"LOCAL_PORT=" + strconv.Itoa(local), "KFTRAY_SERVER_HEALTH_ADDR=127.0.0.1:0", "KFTRAY_LOG_LEVEL=warn"}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", local)
	privtest.WaitFor(t, wait, "kftray-server to listen on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}
