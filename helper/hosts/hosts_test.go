package hosts

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kftray-go/kftray/internal/atomicfile"
)

var policy = Policy{Suffixes: []string{".test", ".svc.cluster.local"}, SingleLabel: true, MaxPerUID: 50}

const original = "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# a comment   with  odd spacing \r\n192.168.1.5 nas.home.test # mine\n\n10.0.0.1 db"

func newFile(t *testing.T, content string) *File {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "hosts")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return &File{Path: p, LockPath: filepath.Join(dir, "hosts.lock"), Policy: policy}
}

func read(t *testing.T, f *File) string {
	t.Helper()
	b, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func entry(ip string, names ...string) Entry {
	return Entry{IP: netip.MustParseAddr(ip), Names: names}
}

func TestOutsideBytesPreserved(t *testing.T) {
	ctx := context.Background()
	// Block in the middle, file without a final newline, CRLF line: all kept.
	for _, content := range []string{
		original,
		original + "\n",
		"# head\n" + BeginMarker + "\n127.77.0.9 old.test # kftray:u7-dead-x\n" + EndMarker + "\n# tail no newline",
	} {
		f := newFile(t, content)
		if err := f.Set(ctx, 1000, "s1", "web", []Entry{entry("127.77.0.1", "web.dev.test", "WEB2.dev.test")}); err != nil {
			t.Fatal(err)
		}
		got := read(t, f)
		if !strings.Contains(got, "127.77.0.1") || !strings.Contains(got, "web.dev.test web2.dev.test # kftray:u1000-s1-web") {
			t.Fatalf("entry missing:\n%s", got)
		}
		d, err := split([]byte(got))
		if err != nil {
			t.Fatal(err)
		}
		orig, _ := split([]byte(content))
		wantPrefix := string(orig.prefix)
		if !orig.hadBlock && wantPrefix != "" && !strings.HasSuffix(wantPrefix, "\n") {
			wantPrefix += "\n"
		}
		if string(d.prefix) != wantPrefix || string(d.suffix) != string(orig.suffix) {
			t.Fatalf("outside bytes changed:\nprefix %q\nwant   %q\nsuffix %q\nwant   %q", d.prefix, wantPrefix, d.suffix, orig.suffix)
		}
		// Removing everything of ours (and the stale line) restores the outside exactly.
		if err := f.Sweep(ctx, func(Line) bool { return false }); err != nil {
			t.Fatal(err)
		}
		if got := read(t, f); got != wantPrefix+string(orig.suffix) {
			t.Fatalf("after sweep:\n%q\nwant\n%q", got, wantPrefix+string(orig.suffix))
		}
	}
}

func TestModeAndOwnerKept(t *testing.T) {
	f := newFile(t, original)
	os.Chmod(f.Path, 0o640)
	if err := f.Set(context.Background(), 1, "s", "l", []Entry{entry("127.0.0.1", "a.test")}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(f.Path)
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", st.Mode().Perm())
	}
}

func TestValidationRefusesBeforeTxeh(t *testing.T) {
	tests := []struct {
		name  string
		lease string
		e     Entry
		want  error
	}{
		{"newline injection", "l", entry("127.0.0.1", "a.test\n0.0.0.0 bank.com"), ErrInvalid},
		{"space", "l", entry("127.0.0.1", "a.test evil.com"), ErrInvalid},
		{"hash", "l", entry("127.0.0.1", "a.test#x"), ErrInvalid},
		{"control", "l", entry("127.0.0.1", "a\x01.test"), ErrInvalid},
		{"non-ascii", "l", entry("127.0.0.1", "bäd.test"), ErrInvalid},
		{"localhost", "l", entry("127.0.0.1", "localhost"), ErrInvalid},
		{"x.localhost", "l", entry("127.0.0.1", "x.localhost"), ErrInvalid},
		{"bad label", "l", entry("127.0.0.1", "-a.test"), ErrInvalid},
		{"underscore", "l", entry("127.0.0.1", "a_b.test"), ErrInvalid},
		{"suffix policy", "l", entry("127.0.0.1", "www.google.com"), ErrInvalid},
		{"bare suffix", "l", entry("127.0.0.1", "test"), nil},
		{"not loopback", "l", entry("10.0.0.1", "a.test"), ErrInvalid},
		{"unspecified", "l", entry("0.0.0.0", "a.test"), ErrInvalid},
		{"no names", "l", entry("127.0.0.1"), ErrInvalid},
		{"bad lease", "l\n", entry("127.0.0.1", "a.test"), ErrInvalid},
		{"lease with space", "a b", entry("127.0.0.1", "a.test"), ErrInvalid},
		{"shadows user line", "l", entry("127.0.0.1", "nas.home.test"), ErrConflict},
		{"shadows user line, case", "l", entry("127.0.0.1", "NAS.home.test"), ErrConflict},
		{"shadows single label", "l", entry("127.0.0.1", "db"), ErrConflict},
		{"ok v6", "l", entry("::1", "v6.test"), nil},
		{"ok mapped", "l", entry("::ffff:127.0.0.2", "m.test"), nil},
		{"ok single label", "l", entry("127.0.0.1", "web"), nil},
		{"ok svc", "l", entry("127.0.0.1", "api.ns.svc.cluster.local"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFile(t, original)
			err := f.Set(context.Background(), 1000, "s1", tt.lease, []Entry{tt.e})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := read(t, f); got != original {
				t.Fatalf("file changed on refusal:\n%s", got)
			}
		})
	}
}

func TestConflictsCapAndSessions(t *testing.T) {
	ctx := context.Background()
	f := newFile(t, original)
	if err := f.Set(ctx, 1000, "s1", "web", []Entry{entry("127.77.0.1", "web.test")}); err != nil {
		t.Fatal(err)
	}
	// Another user may not take the name; the same lease may move it.
	if err := f.Set(ctx, 1001, "s2", "web", []Entry{entry("127.77.0.2", "web.test")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("other uid took a managed name: %v", err)
	}
	if err := f.Set(ctx, 1001, "s2", "web", []Entry{entry("::1", "web.test")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("other uid took a managed name through IPv6: %v", err)
	}
	if err := f.Set(ctx, 1000, "s1", "web", []Entry{entry("127.77.0.3", "web.test"), entry("::1", "web.test")}); err != nil {
		t.Fatal(err)
	}
	// Cap counts every lease of the uid (web.test holds two lines now).
	many := make([]string, policy.MaxPerUID)
	for i := range many {
		many[i] = fmt.Sprintf("n%d.test", i)
	}
	if err := f.Set(ctx, 1000, "s1", "bulk", []Entry{entry("127.77.0.4", many...)}); !errors.Is(err, ErrCap) {
		t.Fatalf("cap not enforced: %v", err)
	}
	if err := f.Set(ctx, 1000, "s1", "bulk", []Entry{entry("127.77.0.4", many[:policy.MaxPerUID-2]...)}); err != nil {
		t.Fatalf("at the cap: %v", err)
	}
	if err := f.Set(ctx, 1001, "s2", "db", []Entry{entry("127.77.0.5", "db.test")}); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveSession(ctx, 1000, "s1"); err != nil {
		t.Fatal(err)
	}
	lines, err := f.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].UID != 1001 || lines[0].Names[0] != "db.test" {
		t.Fatalf("after RemoveSession: %+v", lines)
	}
}

func TestDamagedBlockRefused(t *testing.T) {
	for _, content := range []string{
		BeginMarker + "\n127.0.0.1 a.test\n",
		EndMarker + "\n",
		BeginMarker + "\n" + EndMarker + "\n" + BeginMarker + "\n" + EndMarker + "\n",
	} {
		f := newFile(t, content)
		err := f.Set(context.Background(), 1, "s", "l", []Entry{entry("127.0.0.1", "a.test")})
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("err = %v for %q", err, content)
		}
		if read(t, f) != content {
			t.Fatal("damaged file modified")
		}
	}
}

func TestSymlinkRefused(t *testing.T) {
	f := newFile(t, original)
	link := filepath.Join(filepath.Dir(f.Path), "link")
	if err := os.Symlink(f.Path, link); err != nil {
		t.Fatal(err)
	}
	f2 := &File{Path: link, LockPath: f.LockPath, Policy: policy}
	err := f2.Set(context.Background(), 1, "s", "l", []Entry{entry("127.0.0.1", "a.test")})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("err = %v, want symlink refusal", err)
	}
	if read(t, f) != original {
		t.Fatal("target of symlink modified")
	}
}

func TestRenameBusyFallsBackToSameInode(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EBUSY, syscall.EXDEV, syscall.EROFS} {
		f := newFile(t, original)
		f.rename = func(string, string) error { return &os.LinkError{Op: "rename", Err: errno} }
		before, _ := os.Stat(f.Path)
		if err := f.Set(context.Background(), 1, "s", "l", []Entry{entry("127.0.0.1", "a.test")}); err != nil {
			t.Fatalf("%v: %v", errno, err)
		}
		after, _ := os.Stat(f.Path)
		if !os.SameFile(before, after) {
			t.Fatalf("%v: inode replaced, want in-place rewrite", errno)
		}
		if !strings.Contains(read(t, f), "a.test") {
			t.Fatalf("%v: entry not written", errno)
		}
		ents, _ := os.ReadDir(filepath.Dir(f.Path))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), atomicfile.TempPrefix(f.Path)) || e.Name() == "hosts.journal" {
				t.Fatalf("%v: temp file %s left behind", errno, e.Name())
			}
		}
	}
}

// TestConcurrentWriterProcesses runs 20 processes that each add their own
// lease at once; the flock must make every one of them survive.
func TestConcurrentWriterProcesses(t *testing.T) {
	f := newFile(t, original)
	const n = 20
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestWriterProcess$", "--", "writer", f.Path, f.LockPath, strconv.Itoa(i))
		cmds[i].Stderr = os.Stderr
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	lines, err := f.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range lines {
		got[l.Lease] = true
	}
	for i := 0; i < n; i++ {
		if !got[fmt.Sprintf("w%d", i)] {
			t.Errorf("lease of writer %d lost", i)
		}
	}
	if !strings.HasPrefix(read(t, f), original) {
		t.Fatal("outside content changed")
	}
}

// TestWriterProcess is the child of TestConcurrentWriterProcesses.
func TestWriterProcess(t *testing.T) {
	args := flag.Args()
	if len(args) != 4 || args[0] != "writer" {
		t.Skip("helper process for TestConcurrentWriterProcesses")
	}
	f := &File{Path: args[1], LockPath: args[2], Policy: policy}
	i, _ := strconv.Atoi(args[3])
	for j := 0; j < 5; j++ { // several rounds each, to interleave
		err := f.Set(context.Background(), uint32(2000+i), "p"+args[3], "w"+args[3],
			[]Entry{entry(fmt.Sprintf("127.77.1.%d", i+1), fmt.Sprintf("w%d-%d.test", i, j))})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// An editor writing the file between our read and our replace must not
// lose its change: the update starts over from the new content.
func TestOutsideWriterDuringUpdateIsKept(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		f := newFile(t, original)
		if inPlace {
			f.rename = func(string, string) error { return &os.LinkError{Op: "rename", Err: syscall.EBUSY} }
		}
		edits := 0
		f.beforeReplace = func() {
			if edits == 0 {
				edits++
				b, _ := os.ReadFile(f.Path)
				os.WriteFile(f.Path, append(b, "\n10.9.9.9 added-by-editor\n"...), 0o644)
			}
		}
		if err := f.Set(context.Background(), 1, "s", "l", []Entry{entry("127.0.0.1", "a.test")}); err != nil {
			t.Fatal(err)
		}
		got := read(t, f)
		if !strings.Contains(got, "added-by-editor") || !strings.Contains(got, "a.test") {
			t.Fatalf("in place %v: lost an update:\n%s", inPlace, got)
		}
	}
}

func TestNamePolicy(t *testing.T) {
	machine := func() []string { return []string{"box.corp.example", "box"} }
	strict := Policy{Suffixes: []string{".test"}, MachineNames: machine}
	optIn := Policy{Suffixes: []string{".test", ".local", ".internal", ".corp.example"}, SingleLabel: true, MachineNames: machine}
	for _, tt := range []struct {
		name          string
		strict, optIn bool // allowed under each policy
	}{
		{"web.dev.test", true, true},
		{"gitlab", false, true},
		{"printer.local", false, true},
		{"metadata.google.internal", false, true},
		{"api.corp.example", false, true},
		{"box", false, false},
		{"BOX.", false, false},
		{"box.corp.example", false, false},
		{"localhost", false, false},
	} {
		for _, c := range []struct {
			p     Policy
			allow bool
			label string
		}{{strict, tt.strict, "default"}, {optIn, tt.optIn, "opt-in"}} {
			_, err := c.p.NormalizeName(tt.name)
			if c.allow && err != nil {
				t.Errorf("%s policy refused %q: %v", c.label, tt.name, err)
			}
			if !c.allow && !errors.Is(err, ErrInvalid) {
				t.Errorf("%s policy: %q gave %v, want ErrInvalid", c.label, tt.name, err)
			}
		}
	}
	_, err := strict.NormalizeName("gitlab")
	if err == nil || !strings.Contains(err.Error(), "--allow-single-label") {
		t.Errorf("single-label refusal does not name the opt-in: %v", err)
	}
	_, err = strict.NormalizeName("printer.local")
	if err == nil || !strings.Contains(err.Error(), "--allow-suffix") {
		t.Errorf("suffix refusal does not name the opt-in: %v", err)
	}
}

func TestMachineNamesIncludesHostname(t *testing.T) {
	h, err := os.Hostname()
	if err != nil || h == "" {
		t.Skip("no host name")
	}
	h = strings.ToLower(h)
	short, _, _ := strings.Cut(h, ".")
	names := MachineNames()
	for _, want := range []string{h, short} {
		if !slices.Contains(names, want) {
			t.Errorf("MachineNames() = %v lacks %q", names, want)
		}
	}
}
