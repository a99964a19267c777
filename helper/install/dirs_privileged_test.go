//go:build privileged

package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallRefusesUnsafeDirectories: the helper runs as root from where
// install puts it, so install refuses any directory on the way that another
// user owns or may write to.
func TestInstallRefusesUnsafeDirectories(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("privileged tests need root")
	}
	const someUser = 4242 // no such user needed: ownership is a number
	tests := []struct {
		name    string
		prepare func(t *testing.T, root string)
		want    string // error substring; "" = installs
	}{
		{"root dir owned by a user", func(t *testing.T, root string) {
			must(t, os.Chown(root, someUser, someUser))
		}, "is owned by uid 4242"},
		{"root dir 0777", func(t *testing.T, root string) {
			must(t, os.Chmod(root, 0o777))
		}, "is writable by group or others (mode 777)"},
		{"an ancestor group-writable", func(t *testing.T, root string) {
			must(t, os.MkdirAll(filepath.Join(root, "usr/local"), 0o755))
			must(t, os.Chmod(filepath.Join(root, "usr/local"), 0o775))
		}, "is writable by group or others (mode 775)"},
		{"the target directory itself sticky and world-writable", func(t *testing.T, root string) {
			d := filepath.Join(root, BinDir)
			must(t, os.MkdirAll(d, 0o755))
			must(t, os.Chmod(d, 0o777|os.ModeSticky))
		}, "is writable by group or others (mode 1777)"},
		{"a symlinked ancestor to a user's directory", func(t *testing.T, root string) {
			users := t.TempDir()
			must(t, os.Chown(users, someUser, someUser))
			must(t, os.Symlink(users, filepath.Join(root, "usr")))
		}, "is owned by uid 4242"},
		{"root dir sticky and world-writable, like /tmp", func(t *testing.T, root string) {
			must(t, os.Chmod(root, 0o777|os.ModeSticky))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, out := setup(t)
			tt.prepare(t, o.Root)
			err := Install(context.Background(), o)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("install: %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "refusing to install") {
				t.Fatalf("install: %v\nwant a refusal saying %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(o.Root, BinPath)); err == nil {
				t.Fatalf("the helper was installed into an unsafe directory")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
