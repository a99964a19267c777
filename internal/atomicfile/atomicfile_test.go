package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
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
