package helpercmd

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kftray-go/kftray/helper/install"
)

// TestProbe: the daemon's view of the helper is what `kftray helper
// status` finds in a real (temp-root) installation.
func TestProbe(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(t.TempDir(), "kftray-helper")
	os.WriteFile(bin, []byte("#!/bin/sh\necho kftray-helper v9 linux/amd64 sha256:ab protocol 1\n"), 0o755)
	o := install.Options{Root: root, Init: install.InitNone, Version: "v9"}
	ctx := context.Background()

	if h := probe(o, 4321)(ctx); h.Installed || h.Allowed || h.Want != "v9" || h.Error != "" {
		t.Fatalf("before install: %+v", h)
	}
	if out, err := run(t, "install", "--root", root, "--binary", bin, "--init", "none", "--insecure-skip-signature", "--allow-uid", "4321"); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	h := probe(o, 4321)(ctx)
	if !h.Installed || h.Version != "v9" || !h.UpToDate || !h.Allowed || h.Error != "" {
		t.Fatalf("installed, uid 4321: %+v", h)
	}
	if h := probe(o, 1234)(ctx); h.Allowed {
		t.Fatalf("installed, uid 1234 (not allowed): %+v", h)
	}
	o.Version = "v10"
	if h := probe(o, 4321)(ctx); h.UpToDate || h.Want != "v10" {
		t.Fatalf("installed v9, want v10: %+v", h)
	}
}
