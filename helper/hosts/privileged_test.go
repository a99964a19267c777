//go:build privileged && linux

package hosts

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/internal/atomicfile"
	"github.com/kftray-go/kftray/internal/privtest"
)

// TestBindMountedHostsFile reproduces a container's /etc/hosts: a file
// bind-mounted over another, where rename(2) onto it fails with EBUSY. The
// helper must fall back to rewriting the same inode. It runs in its own
// mount namespace so nothing leaks onto the machine.
func TestBindMountedHostsFile(t *testing.T) {
	privtest.InNamespaces(t, []string{"--mount"}, nil, inMountns)
}

func inMountns(t *testing.T, dir string) {
	source := filepath.Join(dir, "source-hosts")
	target := filepath.Join(dir, "etc-hosts")
	os.WriteFile(source, []byte(original), 0o644)
	os.WriteFile(target, []byte("placeholder\n"), 0o644)
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	defer unix.Unmount(target, 0)
	// Prove the premise: rename onto a mount point is EBUSY.
	tmp := filepath.Join(dir, "tmp")
	os.WriteFile(tmp, nil, 0o644)
	if err := os.Rename(tmp, target); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("rename onto the bind mount: %v, want EBUSY", err)
	}
	f := &File{Path: target, LockPath: filepath.Join(dir, "lock"), Policy: policy}
	if err := f.Set(context.Background(), 1000, "s1", "web", []Entry{entry("127.77.0.1", "web.dev.test")}); err != nil {
		t.Fatal(err)
	}
	// Written through the mount into the source inode, outside bytes intact.
	got, _ := os.ReadFile(source)
	if !strings.HasPrefix(string(got), original+"\n"+BeginMarker) || !strings.Contains(string(got), "web.dev.test") {
		t.Fatalf("source after write:\n%s", got)
	}
	if err := f.RemoveSession(context.Background(), 1000, "s1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(source); string(got) != original+"\n" {
		t.Fatalf("after removal:\n%q", got)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), atomicfile.TempPrefix(target)) || e.Name() == "hosts.journal" {
			t.Fatalf("temp file left: %s", e.Name())
		}
	}
}
