package hosts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/internal/atomicfile"
)

var errKilled = errors.New("simulated kill")

// inPlace makes f rewrite in place, as under systemd's read-only /etc.
func inPlace(f *File) *File {
	f.rename = func(string, string) error { return &os.LinkError{Op: "rename", Err: syscall.EBUSY} }
	return f
}

// TestInterruptedInPlaceWriteIsRolledBack kills (simulated) a writer after
// its journal is on disk and part of the rewrite is done, then "restarts":
// a fresh File, as the next process would have, must put the file back
// to a whole one before anything else, and later writes must work.
func TestInterruptedInPlaceWriteIsRolledBack(t *testing.T) {
	ctx := context.Background()
	big := make([]string, 40)
	for i := range big {
		big[i] = fmt.Sprintf("grown-%02d.dev.test", i)
	}
	pwrite := func(fd int, b []byte, off int64) {
		if _, err := unix.Pwrite(fd, b, off); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		// crash does part of the rewrite of the journaled new content
		// on fd, then the writer "dies".
		crash func(fd int, new []byte)
		// keepsNew: the rewrite was complete, so it stays; otherwise the
		// old content comes back.
		keepsNew bool
	}{
		{"before the first byte", func(int, []byte) {}, false},
		{"half the bytes written", func(fd int, new []byte) { pwrite(fd, new[:len(new)/2], 0) }, false},
		{"all written, not truncated", func(fd int, new []byte) { pwrite(fd, new, 0) }, false},
		{"written and truncated, journal not removed", func(fd int, new []byte) {
			pwrite(fd, new, 0)
			unix.Ftruncate(fd, int64(len(new)))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := inPlace(newFile(t, original))
			if err := f.Set(ctx, 1000, "s1", "web", []Entry{entry("127.77.0.1", big...)}); err != nil {
				t.Fatal(err)
			}
			grown := read(t, f)
			f.afterJournal = func(fd int, data []byte) error { tt.crash(fd, data); return errKilled }
			err := f.Set(ctx, 1000, "s1", "web", []Entry{entry("127.77.0.1", "small.dev.test")})
			if !errors.Is(err, errKilled) {
				t.Fatalf("Set = %v, want the simulated kill", err)
			}
			if _, err := os.Stat(f.journalPath()); err != nil {
				t.Fatalf("no journal after the kill: %v", err)
			}

			restarted := inPlace(&File{Path: f.Path, LockPath: f.LockPath, Policy: policy})
			lines, err := restarted.List(ctx)
			if err != nil {
				t.Fatalf("after restart: %v\n%s", err, read(t, f))
			}
			got := read(t, f)
			if tt.keepsNew {
				if len(lines) != 1 || len(lines[0].Names) != 1 || lines[0].Names[0] != "small.dev.test" || !strings.HasPrefix(got, original+"\n") {
					t.Fatalf("after recovery, want the complete new content:\n%s", got)
				}
			} else if got != grown {
				t.Fatalf("after recovery, want the old content back:\n%s", got)
			}
			if _, err := os.Stat(f.journalPath()); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("journal still there after recovery: %v", err)
			}
			if err := restarted.RemoveSession(ctx, 1000, "s1"); err != nil {
				t.Fatal(err)
			}
			if got := read(t, f); got != original+"\n" {
				t.Fatalf("after the session's cleanup:\n%q\nwant\n%q", got, original+"\n")
			}
		})
	}
}

// TestRecoveryOfInterruptedRollback: the writer that rolls back can be
// killed too; what it leaves is still recognised and finished.
func TestRecoveryOfInterruptedRollback(t *testing.T) {
	f := inPlace(newFile(t, original))
	old := []byte(read(t, f))
	new := []byte(strings.Replace(string(old), "localhost", "LOCALHOST", 1) + "# a longer tail\n")
	var st unix.Stat_t
	if err := unix.Stat(f.Path, &st); err != nil {
		t.Fatal(err)
	}
	if err := f.saveJournal(&journal{Path: f.Path, Dev: uint64(st.Dev), Ino: uint64(st.Ino), Old: old, New: new}); err != nil {
		t.Fatal(err)
	}
	// Forward write cut after len(new)-3 bytes, then a rollback cut after 4.
	mixed := append(append([]byte{}, old[:4]...), new[4:len(new)-3]...)
	if err := os.WriteFile(f.Path, mixed, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, f); got != string(old) {
		t.Fatalf("got %q, want the old content back", got)
	}
}

// TestJournalOfOutsideEditIsDropped: if someone else wrote the file after
// the crash, their content stays (and the journal goes).
func TestJournalOfOutsideEditIsDropped(t *testing.T) {
	f := inPlace(newFile(t, original))
	var st unix.Stat_t
	unix.Stat(f.Path, &st)
	if err := f.saveJournal(&journal{Path: f.Path, Dev: uint64(st.Dev), Ino: uint64(st.Ino), Old: []byte(original), New: []byte(original + "\nmore\n")}); err != nil {
		t.Fatal(err)
	}
	edited := "# repaired by hand\n" + original
	os.WriteFile(f.Path, []byte(edited), 0o644)
	if _, err := f.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, f); got != edited {
		t.Fatalf("an outside edit was overwritten: %q", got)
	}
	if _, err := os.Stat(f.journalPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("journal kept")
	}
}

func TestMixOf(t *testing.T) {
	old, new := []byte("aaaaaaaa"), []byte("bbbbb")
	for _, tt := range []struct {
		cur  string
		want bool
	}{
		{"bbbaaaaa", true}, {"bbbbbaaa", true}, {"bbbbb", true}, {"aaaaaaaa", true},
		{"abbbbaaa", true}, // a rollback cut short
		{"bbbb", false},    // shorter than both
		{"bbbbbaaaa", false},
		{"bbbcaaaa", false},
	} {
		if got := mixOf([]byte(tt.cur), old, new); got != tt.want {
			t.Errorf("mixOf(%q) = %v, want %v", tt.cur, got, tt.want)
		}
	}
}

// TestGateLetsTheWriterFinish: Close waits for the writer under the lock,
// then no write starts.
func TestGateLetsTheWriterFinish(t *testing.T) {
	f := newFile(t, original)
	f.Gate = &Gate{}
	inside, release := make(chan struct{}), make(chan struct{})
	f.beforeReplace = func() { close(inside); <-release }
	wrote := make(chan error, 1)
	go func() { wrote <- f.Set(context.Background(), 1, "s", "l", []Entry{entry("127.0.0.1", "a.test")}) }()
	<-inside
	closed := make(chan struct{})
	go func() { f.Gate.Close(); close(closed) }()
	for { // Close has shut the gate and waits for the writer
		f.Gate.mu.Lock()
		shut := f.Gate.closed
		f.Gate.mu.Unlock()
		if shut {
			break
		}
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a write was under way")
	default:
	}
	close(release)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	<-closed
	if !strings.Contains(read(t, f), "a.test") {
		t.Fatal("the write under way was lost")
	}
	f.beforeReplace = nil
	if err := f.Set(context.Background(), 1, "s", "l", nil); !errors.Is(err, ErrEnding) {
		t.Fatalf("write after Close: %v, want ErrEnding", err)
	}
}

func TestTooLargeRefusedNotCut(t *testing.T) {
	ctx := context.Background()
	f := newFile(t, "")
	huge := bytes.Repeat([]byte("# padding line of a very large hosts file\n"), MaxSize/42+1)
	if err := os.WriteFile(f.Path, huge, 0o644); err != nil {
		t.Fatal(err)
	}
	err := f.Set(ctx, 1, "s", "l", []Entry{entry("127.0.0.1", "a.test")})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), f.Path) || !strings.Contains(err.Error(), fmt.Sprint(len(huge))) {
		t.Fatalf("err = %v, want ErrTooLarge naming %s and %d bytes", err, f.Path, len(huge))
	}
	if _, err := f.List(ctx); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("List: %v", err)
	}
	if got, _ := os.ReadFile(f.Path); !bytes.Equal(got, huge) {
		t.Fatal("a too large file was modified")
	}
	// Just under the limit: a write that would cross it is refused.
	edge := huge[:MaxSize-10]
	os.WriteFile(f.Path, edge, 0o644)
	if err := f.Set(ctx, 1, "s", "l", []Entry{entry("127.0.0.1", "a.test")}); !errors.Is(err, ErrCap) {
		t.Fatalf("growing past the limit: %v, want ErrCap", err)
	}
	if got, _ := os.ReadFile(f.Path); !bytes.Equal(got, edge) {
		t.Fatal("file modified by a refused write")
	}
}

func TestStaleTempFilesSwept(t *testing.T) {
	f := newFile(t, original)
	dir := filepath.Dir(f.Path)
	ours := []string{atomicfile.TempPrefix(f.Path) + "123", ".hosts.kftray-4567"}
	theirs := []string{".hosts.swp", "hosts.bak", atomicfile.TempPrefix("other") + "1"}
	for _, n := range append(append([]string{}, ours...), theirs...) {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600)
	}
	// A symbolic link with our name is not followed nor removed.
	target := filepath.Join(dir, "precious")
	os.WriteFile(target, []byte("keep"), 0o600)
	link := atomicfile.TempPrefix(f.Path) + "link"
	os.Symlink(target, filepath.Join(dir, link))
	theirs = append(theirs, link, "precious")

	// One unique temporary name per write, none left behind.
	var temps []string
	f.rename = func(old, new string) error { temps = append(temps, filepath.Base(old)); return os.Rename(old, new) }
	for i := range 3 {
		if err := f.Set(context.Background(), 1, "s", "l", []Entry{entry("127.0.0.1", fmt.Sprintf("w%d.test", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if len(temps) != 3 || temps[0] == temps[1] || temps[1] == temps[2] || temps[0] == temps[2] || !strings.HasPrefix(temps[0], atomicfile.TempPrefix(f.Path)) {
		t.Fatalf("temporary names %v, want 3 distinct ones starting %s", temps, atomicfile.TempPrefix(f.Path))
	}

	if err := f.Sweep(context.Background(), func(Line) bool { return false }); err != nil {
		t.Fatal(err)
	}
	for _, n := range ours {
		if _, err := os.Lstat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale temporary file %s not swept", n)
		}
	}
	for _, n := range temps {
		if _, err := os.Lstat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary file %s of a finished write left", n)
		}
	}
	for _, n := range theirs {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed by the sweep: %v", n, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Fatal("symlink target touched")
	}
}
