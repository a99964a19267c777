package helpercmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/install"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := New(Options{})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestInstallStatusUninstallUnderRoot(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(t.TempDir(), "kftray-helper")
	os.WriteFile(bin, []byte("#!/bin/sh\necho kftray-helper v9 linux/amd64 sha256:ab protocol 1\n"), 0o755)

	// This test build trusts no key, so a signed install is refused ...
	os.WriteFile(bin+".minisig", []byte("x"), 0o644)
	if _, err := run(t, "install", "--root", root, "--binary", bin, "--init", "none"); err == nil {
		t.Fatal("install without a trusted key succeeded")
	}
	// ... and the development escape hatch says loudly what it does.
	out, err := run(t, "install", "--root", root, "--binary", bin, "--init", "none", "--insecure-skip-signature", "--allow-uid", "4321")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if !strings.Contains(out, "UNVERIFIED") || !strings.Contains(out, "uid 4321 may now use the helper") {
		t.Fatalf("install output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, install.BinPath)); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "status", "--root", root, "--init", "none")
	if err != nil || !strings.Contains(out, install.BinPath+" v9") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if out, err = run(t, "uninstall", "--root", root, "--init", "none"); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, install.BinPath)); !os.IsNotExist(err) {
		t.Fatalf("binary still there after uninstall: %v", err)
	}
	out, _ = run(t, "status", "--root", root, "--init", "none")
	if !strings.Contains(out, "not installed") || !strings.Contains(out, "sudo kftray helper install") {
		t.Fatalf("status after uninstall:\n%s", out)
	}
}

// kftray's example aliases (grafana, argocd, ...) are single labels: one
// flag at install allows them.
func TestInstallNamePolicyFlags(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(t.TempDir(), "kftray-helper")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	base := []string{"install", "--root", root, "--binary", bin, "--init", "none", "--insecure-skip-signature", "--allow-uid", "4321"}
	if out, err := run(t, append(base, "--allow-suffix", "local")...); err == nil || !strings.Contains(err.Error(), "--allow-suffix") {
		t.Fatalf("bad suffix accepted: %v\n%s", err, out)
	}
	out, err := run(t, append(base, "--allow-single-label", "--allow-suffix", ".local", "--allow-suffix", ".internal")...)
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	cfg, err := config.Load(filepath.Join(root, config.DefaultPath), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Suffixes(), " "); got != ".test .local .internal" || !cfg.SingleLabel() {
		t.Fatalf("suffixes %q, single labels %v", got, cfg.SingleLabel())
	}
	if !strings.Contains(out, "single-label names: allowed") {
		t.Fatalf("install output does not state the policy:\n%s", out)
	}
	if out, _ = run(t, "status", "--root", root, "--init", "none"); !strings.Contains(out, "names:     *.test, *.local, *.internal; single-label names: allowed") {
		t.Fatalf("status does not state the policy:\n%s", out)
	}
}
