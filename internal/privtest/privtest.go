// Package privtest is what the root-only tests share: real users made with
// useradd, commands run as them, directories and binaries those users can
// reach, and a re-run of a test inside fresh namespaces.
//
// Callers check os.Geteuid() == 0 (and skip otherwise) before using it.
package privtest

import (
	"errors"
	"flag"
	"fmt"
	"io"
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
)

// User returns the ids of the local user name, creating it (no home, no
// login shell) when it does not exist yet. It stays for later runs.
func User(t testing.TB, name string) (uid, gid uint32) {
	t.Helper()
	return addUser(t, name)
}

// UserInGroup is User for a user whose primary group is group's (an
// existing group name), as several users share "staff" on macOS.
func UserInGroup(t testing.TB, name, group string) (uid, gid uint32) {
	t.Helper()
	return addUser(t, name, "-g", group)
}

func addUser(t testing.TB, name string, extra ...string) (uid, gid uint32) {
	t.Helper()
	// Other packages' privileged tests run useradd at the same time, and
	// useradd gives up at once when /etc/passwd is locked: retry a little.
	for try := 0; ; try++ {
		if _, err := user.Lookup(name); err == nil {
			break
		}
		args := append([]string{"--no-create-home", "--shell", "/usr/sbin/nologin"}, extra...)
		out, err := exec.Command("useradd", append(args, name)...).CombinedOutput()
		if err == nil {
			break
		}
		if try == 20 || !strings.Contains(string(out), "lock") {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	id, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		t.Fatalf("user %s: uid %q: %v", name, u.Uid, err)
	}
	g, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		t.Fatalf("user %s: gid %q: %v", name, u.Gid, err)
	}
	return uint32(id), uint32(g)
}

// As makes cmd run as uid:gid with no supplementary groups, so it holds
// none of root's.
func As(cmd *exec.Cmd, uid, gid uint32) *exec.Cmd {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
	return cmd
}

// SharedDir is a temp directory other users can read and traverse (the
// parent of t.TempDir is private to root), removed when the test ends.
func SharedDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Build builds each package into dir under its name.
func Build(t testing.TB, dir string, pkgs map[string]string) {
	t.Helper()
	for name, pkg := range pkgs {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
}

// Rerun runs the top-level test t again in a child of `unshare flags...`
// (for example --net, --mount; with --mount, propagation is private, so
// nothing the child mounts reaches the machine). The child finds args
// through Rerunning under the same marker. t fails when the child fails;
// its output is logged.
func Rerun(t *testing.T, flags []string, marker string, args ...string) {
	t.Helper()
	argv := slices.Clone(flags)
	if slices.Contains(flags, "--mount") {
		argv = append(argv, "--propagation", "private")
	}
	argv = append(argv, "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "--", marker)
	out, err := exec.Command("unshare", append(argv, args...)...).CombinedOutput()
	t.Logf("in fresh namespaces (unshare %s):\n%s", strings.Join(flags, " "), out)
	if err != nil {
		t.Fatalf("%s failed in the namespaces: %v", t.Name(), err)
	}
}

// InNamespaces is the usual shape of a privileged test: it skips t unless
// run as root, builds pkgs (name → package) into a directory the test users
// can reach, re-runs t in a child of `unshare flags...` (see Rerun) and
// there calls body with that directory. With --net among flags, loopback is
// up before body runs.
func InNamespaces(t *testing.T, flags []string, pkgs map[string]string, body func(t *testing.T, dir string)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("privileged tests need root")
	}
	const marker = "in-namespaces"
	if args, ok := Rerunning(marker); ok {
		if slices.Contains(flags, "--net") {
			if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
				t.Fatalf("ip link set lo up: %v\n%s", err, out)
			}
		}
		body(t, args[0])
		return
	}
	dir := SharedDir(t, "kftray-priv-")
	Build(t, dir, pkgs)
	Rerun(t, flags, marker, dir)
}

// Rerunning reports whether this process is a child started by Rerun with
// marker, and the arguments Rerun passed after it.
func Rerunning(marker string) ([]string, bool) {
	args := flag.Args()
	if len(args) == 0 || args[0] != marker {
		return nil, false
	}
	return args[1:], true
}

// RunInNamespaces is Rerun for a whole test binary, from TestMain (after
// flag.Parse): as root it re-runs the binary in fresh network and mount
// namespaces and returns the child's exit code; in that child (and when not
// root) it brings loopback up where needed and returns run().
func RunInNamespaces(run func() int) int {
	const marker = "in-ns"
	if _, child := Rerunning(marker); child {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "ip link set lo up: %v\n%s", err, out)
			return 1
		}
		return run()
	}
	if os.Geteuid() != 0 {
		return run()
	}
	argv := append([]string{"--net", "--mount", "--propagation", "private", "--"}, os.Args...)
	cmd := exec.Command("unshare", append(argv, "--", marker)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "unshare:", err)
		return 1
	}
	return 0
}

// Command is exec.Command run as uid:gid (see As) with only a minimal PATH
// in its environment.
func Command(uid, gid uint32, name string, args ...string) *exec.Cmd {
	c := As(exec.Command(name, args...), uid, gid)
	c.Env = []string{"PATH=/usr/bin:/bin"}
	return c
}

// StartHelper starts `kftray-helper service` (the binary exe) on the given
// socket, config, hosts file and run directory, logging warnings to log,
// and waits until its socket answers. StopHelper ends it.
func StartHelper(t testing.TB, exe, socket, config, hosts, runDir string, log io.Writer) *exec.Cmd {
	t.Helper()
	c := exec.Command(exe, "service", "--socket", socket, "--config", config, "--hosts", hosts, "--run-dir", runDir)
	c.Stderr = log
	c.Env = []string{"PATH=/usr/bin:/bin", "KFTRAY_LOG_LEVEL=warn"}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 15*time.Second, "the helper service socket", func() bool {
		conn, err := net.Dial("unix", socket)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return c
}

// StopHelper ends a service StartHelper started, as systemd would (SIGTERM),
// and waits for it.
func StopHelper(c *exec.Cmd) {
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()
}

// WaitFor polls cond until it holds, failing t with what it waited for
// once within has passed: a hang guard, not a timing assertion.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
