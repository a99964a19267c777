package httplog

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestFileRotates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), DirName)
	f := NewFile(dir, 3, 8080, 100)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	entry := []byte(strings.Repeat("x", 40) + "\n")
	for range 5 {
		if err := f.Write(entry); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	files, err := ListFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, lf := range files {
		names = append(names, filepath.Base(lf.Path))
		if lf.Size > 100 {
			t.Errorf("%s has %d bytes, over the 100 allowed", lf.Path, lf.Size)
		}
		if st, _ := os.Stat(lf.Path); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", lf.Path, st.Mode().Perm())
		}
	}
	sort.Strings(names)
	want := []string{"3_8080.20260102T030406.000000000.http", "3_8080.20260102T030407.000000000.http", "3_8080.http"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", names, want)
	}
}

func TestSweep(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	write := func(name string, size int, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o600); err != nil {
			t.Fatal(err)
		}
		mt := now.Add(-age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		return p
	}
	day := 24 * time.Hour
	write("1_80.http", 10, 1*day)                            // fresh: kept
	write("1_80.20260201T000000.000000000.http", 10, 8*day)  // older than 7 days: removed
	write("2_81.20260201T000000.000000000.http", 10, 8*day)  // config 2 keeps 30 days
	write("3_82.20260101T000000.000000000.http", 10, 60*day) // config 3: no auto cleanup
	write("9_99.http", 10, 8*day)                            // a deleted config: the default applies
	write("notes.txt", 10, 100*day)                          // not ours
	write("1_80.20260228T000000.000000000.http", 495, 2*day) // big and recent: together over the total cap,
	write("2_81.20260227T000000.000000000.http", 495, 3*day) // which removes the oldest rotated files first
	policy := func(id int64) Retention {
		switch id {
		case 2:
			return Retention{Days: 30, AutoCleanup: true}
		case 3:
			return Retention{Days: 1, AutoCleanup: false}
		}
		return Retention{Days: 7, AutoCleanup: true}
	}
	removed, err := Sweep(dir, now, policy, 1010)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range removed {
		got = append(got, filepath.Base(f.Path))
	}
	sort.Strings(got)
	want := []string{"1_80.20260201T000000.000000000.http", "3_82.20260101T000000.000000000.http", "9_99.http"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("removed %v, want %v", got, want)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, de := range left {
		names = append(names, de.Name())
	}
	wantLeft := []string{"1_80.20260228T000000.000000000.http", "1_80.http", "2_81.20260201T000000.000000000.http", "2_81.20260227T000000.000000000.http", "notes.txt"}
	if strings.Join(names, " ") != strings.Join(wantLeft, " ") {
		t.Errorf("left %v, want %v", names, wantLeft)
	}

	n, b, err := Purge(dir, 1)
	if err != nil || n != 2 || b != 505 {
		t.Errorf("purge of config 1: %d files %d bytes %v", n, b, err)
	}
	if n, _, _ := Purge(dir, 0); n != 2 {
		t.Errorf("purge of all removed %d files, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("purge removed a file that is not a log: %v", err)
	}
}
