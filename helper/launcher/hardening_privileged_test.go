//go:build privileged

package launcher_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kftray-go/kftray/internal/privtest"
)

// TestPrivilegedHardening plays an allowed local user (and a user sharing
// its primary group) attacking the helper: address reuse, privileged source
// ports, hand-made launch requests, the session socket, a chatty launcher
// connection, a revoked uid and a replaced helper binary. Same world as
// TestPrivileged: root, a fresh network and mount namespace, useradd'ed
// users, the real `kftray-helper service` on temp paths.

const (
	userC  = "kftray-test-c"
	userA2 = "kftray-test-a2" // primary group: userA's
)

func TestPrivilegedHardening(t *testing.T) {
	privtest.InNamespaces(t, []string{"--net", "--mount"}, map[string]string{
		"kftray-helper": "github.com/kftray-go/kftray/cmd/kftray-helper",
		"probe":         "./testdata/probe",
		"hostile":       "./testdata/hostile",
	}, hardening)
}

// start starts a long-running hostile command.
func (w *world) start(uid, gid uint32, args ...string) *proc {
	w.t.Helper()
	return w.spawn("hostile", uid, gid, args...)
}

// hostile runs one hostile command to completion and returns its output.
func (w *world) hostile(uid, gid uint32, args ...string) string {
	w.t.Helper()
	c := privtest.Command(uid, gid, filepath.Join(w.bin, "hostile"), args...)
	c.Stderr = os.Stderr
	out, _ := c.Output()
	return strings.TrimSpace(string(out))
}

// cpuTicks is utime+stime of pid, in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

func hardening(t *testing.T, bin string) {
	w := newWorld(t, bin, "kftray-hardworld-")
	w.uidA, w.gidA = privtest.User(t, userA)
	w.uidB, w.gidB = privtest.User(t, userB)
	uidC, gidC := privtest.User(t, userC)
	uidA2, gidA2 := privtest.UserInGroup(t, userA2, userA)
	if gidA2 != w.gidA {
		t.Fatalf("%s has gid %d, want %s's %d", userA2, gidA2, userA, w.gidA)
	}
	writeConfig(t, w.cfg, w.uidA, w.uidB, uidC)
	if err := os.WriteFile(w.hosts, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.startService()
	defer func() {
		if w.service.ProcessState == nil {
			w.stopService()
		}
	}()
	noPlugins := func(t *testing.T) {
		t.Helper()
		privtest.WaitFor(t, 30*time.Second, "every plugin to exit", func() bool { return len(w.pluginPIDs()) == 0 })
	}

	t.Run("an address a kept socket holds is not handed to another user, nor named again", func(t *testing.T) {
		keep := w.start(w.uidA, w.gidA, "keep", w.socket, "kept.dev.test")
		defer keep.stop()
		l := keep.next(t)
		x, ok := strings.CutPrefix(l, "KEPT ")
		if !ok {
			t.Fatalf("%s: %s", userA, l)
		}
		privtest.WaitFor(t, 30*time.Second, "the ended session's cleanup", func() bool {
			return !strings.Contains(w.hostsText(), "kept.dev.test") && len(w.pluginPIDs()) == 0
		})
		if ln, err := net.Listen("tcp", net.JoinHostPort(x, "80")); err == nil {
			ln.Close()
			t.Fatalf("%s:80 is free: %s's kept socket should hold it", x, userA)
		}
		c := w.start(uidC, gidC, "alloc", w.socket)
		defer c.stop()
		got := c.next(t)
		if got == "ADDR "+x {
			t.Fatalf("%s was given %s while %s still holds a socket there from an ended session: %s's names would lead to %s", userC, x, userA, userC, userA)
		}
		if !strings.HasPrefix(got, "ADDR 127.77.") {
			t.Fatalf("%s: %s", userC, got)
		}
		t.Logf("%s keeps %s:80 after its session; %s was given %s", userA, x, userC, strings.TrimPrefix(got, "ADDR "))
		fmt.Fprintln(keep.stdin, "name again.dev.test")
		if r := keep.next(t); !strings.HasPrefix(r, "REFUSED") || !strings.Contains(r, "allocated") {
			t.Fatalf("%s named its kept address from a new session: %s\n%s", userA, r, w.hostsText())
		}
		if strings.Contains(w.hostsText(), "again.dev.test") {
			t.Fatalf("hosts:\n%s", w.hostsText())
		}
	})
	noPlugins(t)

	t.Run("a helper-bound tcp socket on port 80 cannot connect out", func(t *testing.T) {
		target, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer target.Close()
		accepted := make(chan string, 4)
		go func() {
			for {
				c, err := target.Accept()
				if err != nil {
					return
				}
				accepted <- c.RemoteAddr().String()
				c.Close()
			}
		}()
		_, port, _ := net.SplitHostPort(target.Addr().String())
		out := w.hostile(w.uidA, w.gidA, "originate", w.socket, port)
		if !strings.HasPrefix(out, "BLOCKED") {
			t.Fatalf("%s originated a connection from a privileged port through the helper: %s", userA, out)
		}
		select {
		case from := <-accepted:
			t.Fatalf("the target accepted a connection from %s", from)
		default:
		}
		t.Logf("disconnect + connect from the helper's socket: %s", out)
	})
	noPlugins(t)

	t.Run("udp below 1024 only for the ports the config lists", func(t *testing.T) {
		if out := w.hostile(w.uidA, w.gidA, "udp", w.socket, "123"); !strings.HasPrefix(out, "REFUSED") || !strings.Contains(out, "udp_low_ports") {
			t.Fatalf("udp 123 (not listed): %s", out)
		}
		if out := w.hostile(w.uidA, w.gidA, "udp", w.socket, "53"); !strings.HasPrefix(out, "BOUND") {
			t.Fatalf("udp 53 (listed by default): %s", out)
		}
	})
	noPlugins(t)

	t.Run("descriptors of the wrong kind are refused", func(t *testing.T) {
		for kind, want := range map[string]string{
			"badstdout": "stdout descriptor must be a pipe (os.Pipe), not a regular file",
			"udpchan":   "must be a unix stream socket (AF_UNIX, SOCK_STREAM), not a socket (AF_INET, SOCK_DGRAM)",
		} {
			if out := w.hostile(w.uidA, w.gidA, "launch", w.socket, kind); !strings.Contains(out, "REFUSED") || !strings.Contains(out, want) {
				t.Errorf("launch with %s: %s\nwant a refusal saying %q", kind, out, want)
			}
		}
	})
	noPlugins(t)

	t.Run("a session without a client certificate is refused", func(t *testing.T) {
		out := w.hostile(w.uidA, w.gidA, "launch", w.socket, "nocert")
		if !strings.HasPrefix(out, "REFUSED") || !strings.Contains(out, "client certificate") {
			t.Fatalf("launch without PLUGIN_CLIENT_CERT: %s", out)
		}
	})
	noPlugins(t)

	t.Run("the session socket is reachable by its user alone, and only with the client certificate", func(t *testing.T) {
		h := w.start(w.uidA, w.gidA, "launch", w.socket, "hold")
		defer h.stop()
		if l := h.next(t); !strings.HasPrefix(l, "LAUNCHED") {
			t.Fatalf("launch: %s", l)
		}
		l := h.next(t)
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "SERVED" || f[1] != "unix" || f[3] != "mtls" {
			t.Fatalf("handshake: %s", l)
		}
		path := f[2]
		for _, pid := range w.pluginPIDs() {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			for _, l := range strings.Split(string(st), "\n") {
				if strings.HasPrefix(l, "VmRSS:") || strings.HasPrefix(l, "Threads:") {
					t.Logf("plugin %d %s", pid, strings.Join(strings.Fields(l), " "))
				}
			}
		}
		if out := w.hostile(uidA2, gidA2, "connect", path); !strings.HasPrefix(out, "REFUSED") {
			t.Fatalf("%s (same primary group as %s) reached %s's session socket: %s", userA2, userA, userA, out)
		}
		if out := w.hostile(w.uidA, w.gidA, "connect", path); out != "CONNECTED" {
			t.Fatalf("%s cannot reach its own session socket: %s", userA, out)
		}
		if out := w.hostile(w.uidA, w.gidA, "tls-nocert", path); !strings.HasPrefix(out, "REFUSED") {
			t.Fatalf("TLS without the client certificate: %s", out)
		}
	})
	noPlugins(t)

	t.Run("data after the launch request ends the session", func(t *testing.T) {
		before := cpuTicks(t, w.service.Process.Pid)
		out := w.hostile(w.uidA, w.gidA, "launch", w.socket, "stream")
		after := cpuTicks(t, w.service.Process.Pid)
		t.Logf("launcher CPU while the client streamed after its launch request: %d ticks (%s)", after-before, strings.ReplaceAll(out, "\n", "; "))
		if !strings.Contains(out, "LAUNCHED") || !strings.Contains(out, "DISCONNECTED") {
			t.Fatalf("stream after launch: %s", out)
		}
		noPlugins(t)
	})

	t.Run("removing a uid from allowed_uids ends its live sessions", func(t *testing.T) {
		h := w.start(w.uidB, w.gidB, "hold", w.socket)
		defer h.stop()
		if l := h.next(t); l != "READY" {
			t.Fatalf("%s: %s", userB, l)
		}
		writeConfig(t, w.cfg, w.uidA, uidC)
		defer writeConfig(t, w.cfg, w.uidA, w.uidB, uidC)
		t0 := time.Now()
		if l := h.next(t); l != "ENDED" {
			t.Fatalf("%s: %s", userB, l)
		}
		t.Logf("%s's session ended %v after the config dropped it", userB, time.Since(t0).Round(time.Millisecond))
		noPlugins(t)
	})

	t.Run("sessions run the binary the service started from", func(t *testing.T) {
		d := privtest.SharedDir(t, "kftray-exe-")
		orig, err := os.ReadFile(filepath.Join(bin, "kftray-helper"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "kftray-helper"), orig, 0o755); err != nil {
			t.Fatal(err)
		}
		w2 := *w
		w2.t, w2.bin = t, d
		w2.socket = filepath.Join(d, "helper.sock")
		w2.runDir = filepath.Join(d, "run")
		w2.startService()
		defer w2.stopService()
		marker := filepath.Join(d, "the-replacement-ran")
		script := "#!/bin/sh\ntouch " + marker + "\nexit 1\n"
		if err := os.WriteFile(filepath.Join(d, "new"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(d, "new"), filepath.Join(d, "kftray-helper")); err != nil {
			t.Fatal(err)
		}
		out, _ := privtest.Command(w.uidA, w.gidA, filepath.Join(bin, "probe"), "expect-version", w2.socket, "v0.0.0-dev").CombinedOutput()
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("the launcher ran the file put at its path after it started\nprobe: %s", out)
		}
		if strings.TrimSpace(string(out)) != "OK v0.0.0-dev" {
			t.Fatalf("session after the binary's path was replaced: %s", out)
		}
	})
}
