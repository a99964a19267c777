//go:build privileged

package helperbind_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kftray-go/kftray/internal/privtest"
)

// TestPrivilegedUDP needs root. It builds kftray-helper and udpprobe,
// re-runs itself in a fresh network namespace (ip_unprivileged_port_start
// is 1024 there, as on a desktop), creates a user with useradd, starts
// `kftray-helper service` on a temp socket with a temp hosts file and
// config, and has the user bind udp port 53 on an allocated loopback
// address with a hostname through helperbind, as a UDP relay forward does.
func TestPrivilegedUDP(t *testing.T) {
	privtest.InNamespaces(t, []string{"--net"}, map[string]string{
		"kftray-helper": "github.com/kftray-go/kftray/cmd/kftray-helper",
		"udpprobe":      "./testdata/udpprobe",
	}, udpInNetns)
}

const udpUser = "kftray-test-udp"

func udpInNetns(t *testing.T, bin string) {
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); strings.TrimSpace(string(b)) != "1024" {
		t.Fatalf("ip_unprivileged_port_start = %q in the fresh namespace, want 1024", b)
	}
	uid, gid := privtest.User(t, udpUser)
	// Not t.TempDir: its parent is 0700 and the user must reach the socket.
	dir := privtest.SharedDir(t, "kftray-udpworld-")
	socket := filepath.Join(dir, "helper.sock")
	hostsPath := filepath.Join(dir, "hosts")
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `{"allowed_uids": [%d]}`, uid), 0o644); err != nil {
		t.Fatal(err)
	}
	const userLines = "127.0.0.1 localhost\n"
	if err := os.WriteFile(hostsPath, []byte(userLines), 0o644); err != nil {
		t.Fatal(err)
	}
	hostsText := func() string {
		b, err := os.ReadFile(hostsPath)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	svc := privtest.StartHelper(t, filepath.Join(bin, "kftray-helper"), socket, cfg, hostsPath, filepath.Join(dir, "run"), os.Stderr)
	defer privtest.StopHelper(svc)

	probe := filepath.Join(bin, "udpprobe")
	t.Run("direct bind of udp port 53 needs the helper", func(t *testing.T) {
		out, _ := privtest.Command(uid, gid, probe, "direct", "127.0.0.1", "53").CombinedOutput()
		if !strings.HasPrefix(string(out), "NEEDS-HELPER ") || !strings.Contains(string(out), "sudo kftray helper install") {
			t.Fatalf("direct bind as %s: %s", udpUser, out)
		}
		// The kernel agrees (the binder checks before it tries), so the
		// helper is what makes the next test pass; a high port binds.
		for _, c := range []struct{ mode, ip, port, want string }{
			{"raw", "127.0.0.1", "53", "EACCES"},
			{"raw", "127.77.0.1", "53", "EACCES"},
			{"direct", "127.0.0.1", "1053", "OK"},
		} {
			out, _ := privtest.Command(uid, gid, probe, c.mode, c.ip, c.port).CombinedOutput()
			if strings.TrimSpace(string(out)) != c.want {
				t.Fatalf("%s bind of udp %s:%s as %s: %s, want %s", c.mode, c.ip, c.port, udpUser, out, c.want)
			}
		}
	})

	t.Run("helper-bound udp port 53 with a hostname receives datagrams", func(t *testing.T) {
		c := privtest.Command(uid, gid, probe, "helper", socket, "dns.dev.test")
		stdin, _ := c.StdinPipe()
		stdout, _ := c.StdoutPipe()
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { c.Process.Kill(); c.Wait() }()
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "READY ") {
			t.Fatalf("probe did not get ready: %q %v", line, err)
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("probe: %q", line)
		}
		addr := f[1]
		t.Logf("session start + first udp bind through the helper %s; then %s per UDP forward bind+release (allocated address, hosts line)", f[2], f[3])
		host, port, _ := net.SplitHostPort(addr)
		if port != "53" || !strings.HasPrefix(host, "127.77.") {
			t.Fatalf("probe bound %s, want 127.77.x.y:53", addr)
		}
		if h := hostsText(); !strings.Contains(h, host) || !strings.Contains(h, "dns.dev.test # kftray:u"+strconv.Itoa(int(uid))+"-") {
			t.Fatalf("no hosts entry for dns.dev.test while the forward lives:\n%s", h)
		}

		conn, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		want := fmt.Sprintf("uid %d got query-1", uid)
		got := exchange(t, conn, "query-1", want)
		if got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}

		stdin.Close() // the forward stops: Close releases address and name
		line, _ = r.ReadString('\n')
		if strings.TrimSpace(line) != "CLOSED" {
			rest, _ := io.ReadAll(r)
			t.Fatalf("probe close: %q %s", line, rest)
		}
		if h := hostsText(); strings.Contains(h, "dns.dev.test") {
			t.Fatalf("hosts entry left after the socket was closed:\n%s", h)
		}
		c.Wait()
		// The helper kept no copy: the port is free again.
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("udp %s still held after the forward closed it: %v", addr, err)
		}
		pc.Close()
	})

	t.Run("a refused hostname is a clear error and leaves nothing behind", func(t *testing.T) {
		out, _ := privtest.Command(uid, gid, probe, "refused", socket, "localhost").CombinedOutput()
		t.Logf("probe: %s", out)
		if !strings.HasPrefix(string(out), "REFUSED nil-conn=true ") || !strings.Contains(string(out), "localhost") {
			t.Fatalf("probe: %s", out)
		}
		if h := hostsText(); h != userLines {
			t.Fatalf("hosts file changed by a refused forward:\n%s", h)
		}
	})

	t.Run("kill -9 of the forwarder frees the port and the name", func(t *testing.T) {
		c := privtest.Command(uid, gid, probe, "helper", socket, "dns2.dev.test")
		c.StdinPipe() // kept open: the probe serves until killed
		stdout, _ := c.StdoutPipe()
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "READY ") {
			c.Process.Kill()
			c.Wait()
			t.Fatalf("probe did not get ready: %q %v", line, err)
		}
		addr := strings.Fields(line)[1]
		if !strings.Contains(hostsText(), "dns2.dev.test") {
			t.Fatalf("no hosts entry:\n%s", hostsText())
		}
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()
		privtest.WaitFor(t, 15*time.Second, "dns2.dev.test to leave the hosts file", func() bool { return !strings.Contains(hostsText(), "dns2.dev.test") })
		if h := hostsText(); h != userLines {
			t.Fatalf("hosts file after the session:\n%s", h)
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("udp %s still held after the forwarder died: %v", addr, err)
		}
		pc.Close()
	})
}

// exchange sends msg until a reply arrives (UDP may drop; bounded) and
// returns the reply.
func exchange(t *testing.T, conn net.Conn, msg, want string) string {
	t.Helper()
	buf := make([]byte, 2048)
	for i := 0; i < 20; i++ {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := conn.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("read reply: %v", err)
		}
	}
	t.Fatalf("no reply to %q (want %q) from %s after 20 tries", msg, want, conn.RemoteAddr())
	return ""
}
