//go:build privileged && linux

package launcher_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/install"
	"github.com/kftray-go/kftray/internal/privtest"
)

// TestPrivilegedHostsFile attacks the hosts file as an allowed user, under
// the layout the systemd unit gives the helper: /etc read-only, /etc/hosts
// a read-write bind mount, so every write is an in-place rewrite. It runs
// the real `kftray-helper service` in fresh network, mount and UTS
// namespaces (its own host name) with users made by useradd.
func TestPrivilegedHostsFile(t *testing.T) {
	privtest.InNamespaces(t, []string{"--net", "--mount", "--uts"}, map[string]string{
		"kftray-helper": "github.com/kftray-go/kftray/cmd/kftray-helper",
		"hostsprobe":    "./testdata/hostsprobe",
	}, hostsInNamespaces)
}

// The machine's host name inside the test's UTS namespace. It ends in
// .test, which the default policy allows: only the host-name rule keeps
// it out.
const testHostname = "kftray-box.corp.test"

// userLines are the bytes outside the block: they must come back exactly.
var userLines = func() string {
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n::1 localhost ip6-localhost\n# the admin's own lines\n")
	for i := range 40 {
		fmt.Fprintf(&b, "10.20.%d.%d host%d.lan.example # a comment\n", i/250, i%250+1, i)
	}
	b.WriteString("10.9.9.9 last.lan.example\n")
	return b.String()
}()

// settled waits until plugins plugin processes run (sessions that end
// are cleaned up) and the hosts file is want again, and fails with the
// file's content if it never is.
func settled(t *testing.T, w *world, want string, plugins int, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := os.ReadFile(w.hosts)
		if err == nil && string(got) == want && len(w.pluginPIDs()) == plugins {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the hosts file is not back to the expected bytes (plugins %v, want %d; err %v): %s", what, w.pluginPIDs(), plugins, err, describeDiff(got, []byte(want)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hostsInNamespaces(t *testing.T, bin string) {
	if err := unix.Sethostname([]byte(testHostname)); err != nil {
		t.Fatalf("sethostname in the test's UTS namespace: %v", err)
	}
	uidA, gidA := privtest.User(t, userA)
	w := newWorld(t, bin, "kftray-hosts-world-")
	w.uidA, w.gidA = uidA, gidA
	dir := w.dir
	w.cfg = filepath.Join(dir, "conf", "config.json") // etc is read-only below

	// systemd's layout: ProtectSystem=strict makes etc read-only,
	// ReadWritePaths=/etc/hosts bind-mounts the file read-write over it.
	etc := filepath.Join(dir, "etc")
	w.hosts = filepath.Join(etc, "hosts")
	os.WriteFile(w.hosts, []byte("placeholder\n"), 0o644)
	source := filepath.Join(dir, "hosts-rw")
	os.WriteFile(source, []byte(userLines), 0o644)
	for _, args := range [][]string{
		{"--bind", etc, etc},
		{"-o", "remount,bind,ro", etc},
		{"--bind", source, w.hosts},
	} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v\n%s", args, err, out)
		}
	}
	defer exec.Command("umount", w.hosts).Run()
	defer exec.Command("umount", etc).Run()

	os.Mkdir(filepath.Join(dir, "conf"), 0o755)
	writeConfig(t, w.cfg, uidA)

	var log bytes.Buffer
	logw := &lockedWriter{w: &log}
	w.startServiceLog(logw)
	defer func() {
		if w.service.ProcessState == nil {
			w.stopService()
		}
	}()

	t.Run("premise: the directory is read-only and the file is a mount point", func(t *testing.T) {
		if _, err := os.CreateTemp(etc, ".probe-*"); !errors.Is(err, syscall.EROFS) {
			t.Fatalf("create a file in %s: %v, want EROFS", etc, err)
		}
		other := filepath.Join(dir, "other")
		os.WriteFile(other, nil, 0o644)
		if err := os.Rename(other, w.hosts); err == nil {
			t.Fatal("rename onto the bind-mounted hosts file worked")
		}
	})

	// Another session keeps a line, so the block stays in the middle, and
	// the admin has many lines after it: every write of the block
	// rewrites megabytes after it, where a cut leaves a torn file.
	anchor := w.spawn("hostsprobe", uidA, gidA, "hold", w.socket, "anchor.dev.test")
	defer func() { anchor.cmd.Process.Kill(); anchor.cmd.Wait() }()
	if line := anchor.next(t); line != "READY" {
		t.Fatalf("anchor session: %q", line)
	}
	var tail strings.Builder
	for i := 0; tail.Len() < 2<<20; i++ {
		fmt.Fprintf(&tail, "10.30.%d.%d after-%d.lan.example # added by the admin after the block\n", i/250%250, i%250+1, i)
	}
	hf, err := os.OpenFile(w.hosts, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	hf.WriteString(tail.String())
	hf.Close()
	b, _ := os.ReadFile(w.hosts)
	withAnchor := string(b)
	if !strings.HasPrefix(withAnchor, userLines+"# BEGIN kftray managed block\n") || !strings.HasSuffix(withAnchor, "# END kftray managed block\n"+tail.String()) {
		t.Fatalf("unexpected layout:\n%.2000s", withAnchor)
	}
	recoveries := func() int {
		return logw.count("rolled back an interrupted") + logw.count("interrupted in-place write left the file whole")
	}

	const grow, shrink = 200, 120
	t.Run("grow, shrink and exit mid-write: never a torn file", func(t *testing.T) {
		const iterations = 200
		start := time.Now()
		for i := range iterations {
			out, err := privtest.Command(uidA, gidA, filepath.Join(bin, "hostsprobe"), "shrink-and-exit", w.socket,
				strconv.Itoa(grow), strconv.Itoa(shrink)).CombinedOutput()
			if err != nil {
				t.Fatalf("iteration %d: probe: %v\n%s", i, err, out)
			}
			settled(t, w, withAnchor, 1, fmt.Sprintf("iteration %d", i))
		}
		t.Logf("%d sessions of grow (%d names), shrink (%d names) and exit mid-write in %v; file byte-exact after each; recoveries logged: %d",
			iterations, grow, shrink, time.Since(start).Round(time.Millisecond), recoveries())
	})

	t.Run("plugin SIGKILLed mid-write by root: undone at the next lock", func(t *testing.T) {
		const iterations = 100
		before, rolledBefore, caught := recoveries(), logw.count("rolled back an interrupted"), 0
		for i := range iterations {
			p := w.spawn("hostsprobe", uidA, gidA, "shrink-on-cue", w.socket, strconv.Itoa(grow), strconv.Itoa(shrink))
			if line := p.next(t); !strings.HasPrefix(line, "READY ") {
				p.cmd.Process.Kill()
				p.cmd.Wait()
				t.Fatalf("iteration %d: probe: %q", i, line)
			}
			pids := w.pluginPIDs()
			if len(pids) != 2 { // this session's and the anchor's
				t.Fatalf("iteration %d: plugins %v, want two", i, pids)
			}
			pid := newest(pids)
			fmt.Fprintln(p.stdin)
			// Kill at a random point up to 2 ms after the plugin opens the
			// hosts file for writing (even iterations) or up to 1 ms after
			// its journal appears, just before the rewrite (odd ones).
			journal := filepath.Join(w.runDir, "hosts.journal")
			trigger := func() bool { return writingFile(pid, w.hosts) }
			spread := 2 * time.Millisecond
			if i%2 == 1 {
				trigger = func() bool { _, err := os.Stat(journal); return err == nil }
				spread = time.Millisecond
			}
			delay := time.Duration(rand.Int64N(int64(spread)))
		watch:
			for {
				select {
				case <-p.lines: // the write finished first: a kill after it
					break watch
				default:
				}
				if trigger() {
					caught++
					for t0 := time.Now(); time.Since(t0) < delay; {
					}
					break
				}
			}
			syscall.Kill(pid, syscall.SIGKILL)
			p.stdin.Close()
			for range p.lines {
			}
			p.cmd.Wait()
			settled(t, w, withAnchor, 1, fmt.Sprintf("iteration %d", i))
		}
		t.Logf("%d plugins SIGKILLed during a shrinking write (%d within 2 ms of opening the file for writing or of writing the journal); the next lock found %d torn files (rolled back) and %d whole ones with a journal; file byte-exact after each",
			iterations, caught, logw.count("rolled back an interrupted")-rolledBefore, recoveries()-before-(logw.count("rolled back an interrupted")-rolledBefore))
		if _, err := os.Stat(filepath.Join(w.runDir, "hosts.journal")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("journal left: %v", err)
		}
		if recoveries() == before {
			t.Fatal("no kill landed while a journal was on disk: this run tested nothing; the write got too fast for the kill points")
		}
	})

	t.Run("later writes work", func(t *testing.T) {
		out, err := privtest.Command(uidA, gidA, filepath.Join(bin, "hostsprobe"), "set", w.socket, "after.dev.test").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "after.dev.test OK" {
			t.Fatalf("%v\n%s", err, out)
		}
		settled(t, w, withAnchor, 1, "after the last session")
	})
	anchor.stdin.Close()
	anchor.cmd.Wait()
	settled(t, w, userLines+tail.String(), 0, "after the anchor session")
	w.stopService()

	t.Run("name policy: system names refused by default, allowed after opt-in, host name never", func(t *testing.T) {
		root := filepath.Join(dir, "root")
		os.Mkdir(root, 0o755)
		inst := install.Options{Root: root, Binary: filepath.Join(bin, "kftray-helper"), InsecureSkipSignature: true,
			AllowUID: uidA, Init: install.InitNone, Out: io.Discard}
		if err := install.Install(context.Background(), inst); err != nil {
			t.Fatal(err)
		}
		pw := *w
		pw.t = t
		pw.cfg = filepath.Join(root, config.DefaultPath)
		pw.socket = filepath.Join(dir, "policy.sock")
		pw.startServiceLog(logw)
		defer pw.stopService()

		names := []string{"gitlab", "printer.local", "metadata.google.internal", testHostname, "kftray-box", "web.dev.test"}
		if b, err := os.ReadFile("/etc/hostname"); err == nil && strings.TrimSpace(string(b)) != "" {
			names = append(names, strings.ToLower(strings.TrimSpace(string(b))))
		}
		set := func() map[string]string {
			out, err := privtest.Command(uidA, gidA, filepath.Join(bin, "hostsprobe"), append([]string{"set", pw.socket}, names...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("probe: %v\n%s", err, out)
			}
			got := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				n, verdict, _ := strings.Cut(l, " ")
				got[n] = verdict
			}
			settled(t, &pw, userLines+tail.String(), 0, "after the policy probe")
			return got
		}
		check := func(label string, got map[string]string, allowed map[string]bool) {
			for _, n := range names {
				if ok := strings.HasPrefix(got[n], "OK"); ok != allowed[n] {
					t.Errorf("%s: %s -> %q, want allowed=%v", label, n, got[n], allowed[n])
				}
			}
		}
		got := set()
		check("default policy", got, map[string]bool{"web.dev.test": true})
		if !strings.Contains(got["gitlab"], "--allow-single-label") || !strings.Contains(got["printer.local"], "--allow-suffix") {
			t.Errorf("refusals do not name the opt-in: %q, %q", got["gitlab"], got["printer.local"])
		}

		inst.AllowSuffixes = []string{".local", ".internal"}
		inst.AllowSingleLabel = true
		if err := install.Install(context.Background(), inst); err != nil {
			t.Fatal(err)
		}
		check("after --allow-single-label --allow-suffix .local --allow-suffix .internal", set(),
			map[string]bool{"gitlab": true, "printer.local": true, "metadata.google.internal": true, "web.dev.test": true})
	})

	t.Run("stale temporary files of ours are swept at start", func(t *testing.T) {
		plain := filepath.Join(dir, "plain")
		os.Mkdir(plain, 0o755)
		sw := *w
		sw.t = t
		sw.hosts = filepath.Join(plain, "hosts")
		sw.socket = filepath.Join(dir, "sweep.sock")
		sw.runDir = filepath.Join(dir, "run-sweep")
		os.WriteFile(sw.hosts, []byte(userLines), 0o644)
		stale := []string{".hosts.atomic-1234567", ".hosts.kftray-89abc"}
		keep := []string{".hosts.swp", "hosts.dpkg-old"}
		for _, n := range append(append([]string{}, stale...), keep...) {
			os.WriteFile(filepath.Join(plain, n), []byte("127.0.0.1 half-written\n"), 0o644)
		}
		sw.startServiceLog(logw)
		defer sw.stopService()
		for _, n := range stale {
			if _, err := os.Lstat(filepath.Join(plain, n)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s not swept at start: %v", n, err)
			}
		}
		for _, n := range keep {
			if _, err := os.Lstat(filepath.Join(plain, n)); err != nil {
				t.Errorf("%s (not ours) removed: %v", n, err)
			}
		}
	})
}

// describeDiff says where got departs from want, and how many block
// markers it has.
func describeDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-200)
	return fmt.Sprintf("%d bytes, want %d; %d BEGIN and %d END markers; first difference at byte %d:\n--- got:\n%s\n--- want:\n%s",
		len(got), len(want), bytes.Count(got, []byte("# BEGIN kftray")), bytes.Count(got, []byte("# END kftray")), i,
		got[from:min(len(got), i+300)], want[from:min(len(want), i+300)])
}

// newest is the pid most recently started among pids.
func newest(pids []int) int {
	best, bestStart := 0, uint64(0)
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Field 22 (starttime), counted after the ")" that ends the name.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 19 {
			if st, _ := strconv.ParseUint(f[19], 10, 64); st >= bestStart {
				best, bestStart = pid, st
			}
		}
	}
	return best
}

// writingFile reports whether pid has path open for writing.
func writingFile(pid int, path string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err != nil || target != path {
			continue
		}
		info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				if fl, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64); err == nil && fl&3 != 0 {
					return true
				}
			}
		}
	}
	return false
}

// lockedWriter collects the service's log, which its goroutines write.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.w.String(), s)
}
