package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for i, tc := range []struct {
		data string
		perm os.FileMode
	}{
		{"first", 0o600},
		{"second, longer than the first", 0o640},
		{"", 0o600},
	} {
		if err := WriteFile(p, []byte(tc.data), tc.perm); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != tc.data {
			t.Fatalf("write %d: read %q, %v; want %q", i, got, err, tc.data)
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != tc.perm {
			t.Errorf("write %d: mode %v, want %v", i, st.Mode().Perm(), tc.perm)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix(p)) {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestWriteFileFailureLeavesTargetAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "target")
	if err := WriteFile(p, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory where the file should be makes the rename fail.
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(sub, []byte("new"), 0o600); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix(sub)) {
			t.Errorf("temporary file left behind after a failure: %s", e.Name())
		}
	}
	if got, _ := os.ReadFile(p); string(got) != "kept" {
		t.Errorf("unrelated target changed: %q", got)
	}
}

func TestWriteOptions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hosts")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	noTemp := func(t *testing.T) {
		t.Helper()
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), TempPrefix(p)) {
				t.Fatalf("temporary file left behind: %s", e.Name())
			}
		}
	}
	refused := errors.New("target changed")
	busy := &os.LinkError{Op: "rename", Err: syscall.EBUSY}
	for _, tc := range []struct {
		name string
		o    Options
		want error
	}{
		{"BeforeRename refuses", Options{Perm: 0o644, BeforeRename: func() error { return refused }}, refused},
		{"Prepare fails", Options{Perm: 0o644, Prepare: func(*os.File) error { return refused }}, refused},
		{"rename busy", Options{Perm: 0o644, Rename: func(string, string) error { return busy }}, syscall.EBUSY},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Write(p, []byte("new"), tc.o); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got, _ := os.ReadFile(p); string(got) != "old" {
				t.Fatalf("target = %q after a failed write", got)
			}
			noTemp(t)
		})
	}
	t.Run("owner, mode and Prepare on the new file", func(t *testing.T) {
		uid, gid := os.Getuid(), os.Getgid()
		if os.Geteuid() == 0 {
			uid, gid = 4242, 4343 // root can give the file away
		}
		prepared := false
		err := Write(p, []byte("new"), Options{Perm: 0o640, Owner: &Owner{UID: uid, GID: gid}, Prepare: func(f *os.File) error {
			st, err := f.Stat()
			prepared = err == nil && st.Size() == 0 // before the data
			return err
		}})
		if err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if int(st.Uid) != uid || int(st.Gid) != gid || st.Mode&0o7777 != 0o640 || !prepared {
			t.Fatalf("uid %d gid %d mode %o prepared %v; want %d %d 640 true", st.Uid, st.Gid, st.Mode&0o7777, prepared, uid, gid)
		}
		noTemp(t)
	})
}
