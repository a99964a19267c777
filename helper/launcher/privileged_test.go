//go:build privileged

package launcher_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kftray-go/kftray/internal/privtest"
)

// These tests need root. They build kftray-helper and a probe forwarder,
// re-run themselves in a fresh network namespace (where
// ip_unprivileged_port_start is 1024, as on a desktop), create two users with
// useradd, start `kftray-helper service` directly on a temp socket with a
// temp hosts file and config, and drive sessions as those users.

const (
	userA = "kftray-test-a"
	userB = "kftray-test-b"
)

func TestPrivileged(t *testing.T) {
	// The binaries go where the test users can run them; a private mount
	// namespace too, so a test can bind-mount a temp file over /etc/hosts
	// the way containers do.
	privtest.InNamespaces(t, []string{"--net", "--mount"}, map[string]string{
		"kftray-helper": "github.com/kftray-go/kftray/cmd/kftray-helper",
		"probe":         "./testdata/probe",
	}, inNetns)
}

type world struct {
	t                      *testing.T
	bin, dir               string
	socket, hosts, cfg     string
	runDir                 string
	uidA, gidA, uidB, gidB uint32
	service                *exec.Cmd
}

func (w *world) hostsText() string {
	b, err := os.ReadFile(w.hosts)
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// pluginPIDs lists running `kftray-helper plugin` processes of this world.
func (w *world) pluginPIDs() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		argv := strings.Split(string(b), "\x00")
		if len(argv) > 1 && argv[0] == filepath.Join(w.bin, "kftray-helper") && argv[1] == "plugin" {
			if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
				continue // zombie: already dead
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

// newWorld lays out a world in a fresh directory other users can reach:
// the helper's socket, hosts file, config (in etc/, which it makes) and run
// directory; the caller writes the files.
func newWorld(t *testing.T, bin, pattern string) *world {
	dir := privtest.SharedDir(t, pattern)
	if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, bin: bin, dir: dir,
		socket: filepath.Join(dir, "helper.sock"),
		hosts:  filepath.Join(dir, "hosts"),
		cfg:    filepath.Join(dir, "etc", "config.json"),
		runDir: filepath.Join(dir, "run"),
	}
}

func (w *world) startService() { w.startServiceLog(os.Stderr) }

func (w *world) startServiceLog(log io.Writer) {
	w.t.Helper()
	w.service = privtest.StartHelper(w.t, filepath.Join(w.bin, "kftray-helper"), w.socket, w.cfg, w.hosts, w.runDir, log)
}

func (w *world) stopService() { privtest.StopHelper(w.service) }

// writeConfig replaces the helper's config at path with one allowing uids,
// the way an editor or the installer would (write, then rename).
func writeConfig(t *testing.T, path string, uids ...uint32) {
	t.Helper()
	var s []string
	for _, u := range uids {
		s = append(s, strconv.FormatUint(uint64(u), 10))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(`{"allowed_uids": [`+strings.Join(s, ", ")+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// proc is a long-running test program (probe, hostile, hostsprobe) run as
// a test user, whose stdout lines the test reads.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// spawn starts the test program prog of w.bin as uid:gid.
func (w *world) spawn(prog string, uid, gid uint32, args ...string) *proc {
	w.t.Helper()
	c := privtest.Command(uid, gid, filepath.Join(w.bin, prog), args...)
	stdin, _ := c.StdinPipe()
	stdout, _ := c.StdoutPipe()
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		w.t.Fatal(err)
	}
	p := &proc{cmd: c, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	return p
}

// next is the process's next line; the wait is a hang guard.
func (p *proc) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("%v exited without saying more", p.cmd.Args[1:])
		}
		return l
	case <-time.After(60 * time.Second):
		t.Fatalf("gave up waiting for %v to say something", p.cmd.Args[1:])
	}
	return ""
}

func (p *proc) stop() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

type probe struct {
	*proc
	addr string
}

func (w *world) startProbe(uid, gid uint32, name string) *probe {
	w.t.Helper()
	p := w.spawn("probe", uid, gid, "session", w.socket, name, "80")
	line := p.next(w.t)
	if !strings.HasPrefix(line, "READY ") {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		w.t.Fatalf("probe did not get ready: %q", line)
	}
	f := strings.Fields(line)
	w.t.Logf("session start (Dial) %s, first Listen through the helper %s, then %s per Listen", f[3], f[4], f[5])
	return &probe{proc: p, addr: f[1]}
}

func inNetns(t *testing.T, bin string) {
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); strings.TrimSpace(string(b)) != "1024" {
		t.Fatalf("ip_unprivileged_port_start = %q in the fresh namespace, want 1024", b)
	}
	w := newWorld(t, bin, "kftray-world-")
	w.uidA, w.gidA = privtest.User(t, userA)
	w.uidB, w.gidB = privtest.User(t, userB)
	writeConfig(t, w.cfg, w.uidA)
	const userLines = "127.0.0.1 localhost\n10.1.1.1 mine.test\n"
	stale := userLines + "# BEGIN kftray managed block\n127.77.0.9 stale.test # kftray:u4242-deadbeef-old\n# END kftray managed block\n# after\n"
	if err := os.WriteFile(w.hosts, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}

	w.startService()
	defer func() {
		if w.service.ProcessState == nil {
			w.stopService()
		}
	}()

	t.Run("stale block swept at start", func(t *testing.T) {
		if got := w.hostsText(); got != userLines+"# after\n" {
			t.Fatalf("hosts after start:\n%s", got)
		}
	})

	t.Run("direct bind of a low port fails with EACCES", func(t *testing.T) {
		for _, addr := range []string{"127.0.0.1:80", "127.77.0.1:80"} {
			out, _ := privtest.Command(w.uidA, w.gidA, filepath.Join(bin, "probe"), "bind-direct", addr).CombinedOutput()
			if strings.TrimSpace(string(out)) != "EACCES" {
				t.Fatalf("direct bind of %s as %s: %s", addr, userA, out)
			}
		}
	})

	t.Run("unlisted user is refused", func(t *testing.T) {
		out, _ := privtest.Command(w.uidB, w.gidB, filepath.Join(bin, "probe"), "session", w.socket, "b.test", "80").CombinedOutput()
		if !strings.Contains(string(out), "not allowed") {
			t.Fatalf("user %s: %s", userB, out)
		}
		if p := w.pluginPIDs(); len(p) != 0 {
			t.Fatalf("a plugin runs for a refused user: %v", p)
		}
	})

	t.Run("an out-of-date helper is detected and names the fix", func(t *testing.T) {
		out, _ := privtest.Command(w.uidA, w.gidA, filepath.Join(bin, "probe"), "expect-version", w.socket, "v99.0.0").CombinedOutput()
		if !strings.Contains(string(out), "out of date") || !strings.Contains(string(out), "sudo kftray helper install") {
			t.Fatalf("probe: %s", out)
		}
		out, _ = privtest.Command(w.uidA, w.gidA, filepath.Join(bin, "probe"), "expect-version", w.socket, "v0.0.0-dev").CombinedOutput()
		if strings.TrimSpace(string(out)) != "OK v0.0.0-dev" {
			t.Fatalf("matching version: %s", out)
		}
		privtest.WaitFor(t, 15*time.Second, "the version-check sessions to end", func() bool { return len(w.pluginPIDs()) == 0 })
	})

	for _, ending := range []string{"clean exit", "kill -9"} {
		t.Run("session through the helper, "+ending, func(t *testing.T) {
			p := w.startProbe(w.uidA, w.gidA, "web.dev.test")
			conn, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatalf("dial %s: %v", p.addr, err)
			}
			fmt.Fprint(conn, "GET / HTTP/1.0\r\n\r\n")
			got, _ := io.ReadAll(conn)
			conn.Close()
			if want := fmt.Sprintf("served by uid %d\n", w.uidA); !strings.HasSuffix(string(got), "\r\n\r\n"+want) {
				t.Fatalf("read %q, want %q", got, want)
			}
			ip := strings.Split(p.addr, ":")[0]
			if !strings.Contains(w.hostsText(), ip+" ") || !strings.Contains(w.hostsText(), "web.dev.test # kftray:u"+strconv.Itoa(int(w.uidA))+"-") {
				t.Fatalf("hosts entry missing while the session lives:\n%s", w.hostsText())
			}
			if n := len(w.pluginPIDs()); n != 1 {
				t.Fatalf("%d plugin processes, want 1", n)
			}
			if ending == "clean exit" {
				p.stdin.Close()
				if err := p.cmd.Wait(); err != nil {
					t.Fatalf("probe exit: %v", err)
				}
			} else {
				p.cmd.Process.Signal(syscall.SIGKILL)
				p.cmd.Wait()
			}
			privtest.WaitFor(t, 15*time.Second, "the hosts entry to vanish", func() bool { return !strings.Contains(w.hostsText(), "web.dev.test") })
			privtest.WaitFor(t, 15*time.Second, "the plugin to exit", func() bool { return len(w.pluginPIDs()) == 0 })
			if got := w.hostsText(); got != userLines+"# after\n" {
				t.Fatalf("hosts after the session:\n%s", got)
			}
			// The helper kept no copy of the socket: the port is free again.
			ln, err := net.Listen("tcp", p.addr)
			if err != nil {
				t.Fatalf("port still held after the forwarder died: %v", err)
			}
			ln.Close()
		})
	}

	t.Run("curl resolves the name through /etc/hosts (bind-mounted, as in a container)", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Skip("curl not installed")
		}
		// A temp file over /etc/hosts, only in this mount namespace.
		etcHosts := filepath.Join(w.dir, "etc-hosts")
		orig, _ := os.ReadFile("/etc/hosts")
		os.WriteFile(etcHosts, orig, 0o644)
		if out, err := exec.Command("mount", "--bind", etcHosts, "/etc/hosts").CombinedOutput(); err != nil {
			t.Fatalf("bind mount: %v\n%s", err, out)
		}
		defer exec.Command("umount", "/etc/hosts").Run()
		w2 := *w
		w2.t = t
		w2.socket = filepath.Join(w.dir, "helper2.sock")
		w2.runDir = filepath.Join(w.dir, "run2")
		w2.hosts = "/etc/hosts"
		w2.startService()
		defer w2.stopService()
		p := w2.startProbe(w.uidA, w.gidA, "web.dev.test")
		out, err := exec.Command(curl, "-sS", "--max-time", "10", "http://web.dev.test/").CombinedOutput()
		if err != nil || string(out) != fmt.Sprintf("served by uid %d\n", w.uidA) {
			t.Fatalf("curl http://web.dev.test/: %v\n%s\n/etc/hosts:\n%s", err, out, w2.hostsText())
		}
		p.stdin.Close()
		p.cmd.Wait()
		privtest.WaitFor(t, 15*time.Second, "web.dev.test to leave /etc/hosts", func() bool { return !strings.Contains(w2.hostsText(), "web.dev.test") })
		if got := w2.hostsText(); got != string(orig) {
			t.Fatalf("/etc/hosts not restored byte for byte:\n%s", got)
		}
	})

	t.Run("launcher killed: no orphan plugin, stale lines swept on restart", func(t *testing.T) {
		p := w.startProbe(w.uidA, w.gidA, "orphan.dev.test")
		defer func() { p.cmd.Process.Kill(); p.cmd.Wait() }()
		w.service.Process.Signal(syscall.SIGKILL)
		w.service.Wait()
		privtest.WaitFor(t, 15*time.Second, "the plugin to die with its launcher", func() bool { return len(w.pluginPIDs()) == 0 })
		if !strings.Contains(w.hostsText(), "orphan.dev.test") {
			t.Fatal("expected the killed launcher to leave its line behind (nothing could remove it)")
		}
		w.startService()
		if strings.Contains(w.hostsText(), "orphan.dev.test") {
			t.Fatalf("stale line not swept at start:\n%s", w.hostsText())
		}
	})

	t.Run("service stop ends sessions and sweeps", func(t *testing.T) {
		p := w.startProbe(w.uidA, w.gidA, "api.dev.test")
		defer func() { p.cmd.Process.Kill(); p.cmd.Wait() }()
		w.stopService()
		if strings.Contains(w.hostsText(), "api.dev.test") {
			t.Fatalf("hosts entry survived service stop:\n%s", w.hostsText())
		}
		privtest.WaitFor(t, 15*time.Second, "the plugin to exit after service stop", func() bool { return len(w.pluginPIDs()) == 0 })
	})
}
