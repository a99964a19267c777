package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/minisign"
	"github.com/kftray-go/kftray/packaging/systemd"
)

// A stand-in helper: a script, so uninstall's `cleanup` call can run. The
// real binary is installed by the privileged test.
var fakeHelper = []byte("#!/bin/sh\nexit 0\n")

func signed(t *testing.T, data []byte, version, goos, goarch string) ([]byte, minisign.PublicKey) {
	t.Helper()
	pub, sk, err := minisign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sig, err := minisign.Sign(sk, data, TrustedComment(version, goos, goarch, hex.EncodeToString(sum[:])), "test")
	if err != nil {
		t.Fatal(err)
	}
	return sig, pub
}

func TestVerify(t *testing.T) {
	data := []byte("helper")
	sig, pub := signed(t, data, "v1.2.3", "linux", "amd64")
	_, other := signed(t, data, "v1.2.3", "linux", "amd64")
	tests := []struct {
		name    string
		data    []byte
		keys    []minisign.PublicKey
		version string
		goos    string
		arch    string
		want    string // error substring; "" = valid
	}{
		{"valid", data, []minisign.PublicKey{pub}, "v1.2.3", "linux", "amd64", ""},
		{"valid, any version", data, []minisign.PublicKey{other, pub}, "", "linux", "amd64", ""},
		{"tampered binary", []byte("helpeR"), []minisign.PublicKey{pub}, "v1.2.3", "linux", "amd64", "not valid"},
		{"wrong key", data, []minisign.PublicKey{other}, "v1.2.3", "linux", "amd64", "not valid"},
		{"no key built in", data, nil, "v1.2.3", "linux", "amd64", "no helper signing key"},
		{"wrong version", data, []minisign.PublicKey{pub}, "v1.2.4", "linux", "amd64", `version="v1.2.3"`},
		{"wrong arch", data, []minisign.PublicKey{pub}, "v1.2.3", "linux", "arm64", `arch="amd64"`},
		{"wrong os", data, []minisign.PublicKey{pub}, "v1.2.3", "darwin", "amd64", `os="linux"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Verify(tt.data, sig, tt.keys, tt.version, tt.goos, tt.arch)
			if tt.want == "" {
				if err != nil || v != "v1.2.3" {
					t.Fatalf("Verify = %q, %v", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSignatureForAnotherBinaryIsRefused(t *testing.T) {
	// A validly signed comment naming a different sha256: the file itself
	// is verified too, but the comment check must also hold on its own.
	pub, sk, _ := minisign.GenerateKey()
	data := []byte("helper")
	sig, _ := minisign.Sign(sk, data, TrustedComment("v1", "linux", "amd64", strings.Repeat("0", 64)), "")
	if _, err := Verify(data, sig, []minisign.PublicKey{pub}, "v1", "linux", "amd64"); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("err = %v", err)
	}
}

type recorder struct{ cmds []string }

func (r *recorder) run(_ context.Context, name string, args ...string) error {
	r.cmds = append(r.cmds, name+" "+strings.Join(args, " "))
	return nil
}

func setup(t *testing.T) (Options, *recorder, *bytes.Buffer) {
	t.Helper()
	root := t.TempDir()
	bin := filepath.Join(t.TempDir(), "kftray-helper")
	os.WriteFile(bin, fakeHelper, 0o755)
	sig, pub := signed(t, fakeHelper, "v0.1.0", "linux", "amd64")
	os.WriteFile(bin+".minisig", sig, 0o644)
	rec := &recorder{}
	out := &bytes.Buffer{}
	return Options{Root: root, Binary: bin, TrustedKeys: []minisign.PublicKey{pub}, Version: "v0.1.0",
		GOOS: "linux", GOARCH: "amd64", AllowUID: 1234, Init: InitSystemd, Out: out, Run: rec.run}, rec, out
}

func TestInstallLayoutAndUninstall(t *testing.T) {
	ctx := context.Background()
	o, rec, out := setup(t)
	if err := Install(ctx, o); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(o.Root, BinPath))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != 0o755 {
		t.Fatalf("helper mode %v, want -rwxr-xr-x (never setuid)", st.Mode())
	}
	if b, _ := os.ReadFile(filepath.Join(o.Root, BinPath)); !bytes.Equal(b, fakeHelper) {
		t.Fatal("installed bytes differ from the verified ones")
	}
	cfg, err := config.Load(filepath.Join(o.Root, config.DefaultPath), false)
	if err != nil || !cfg.Allowed(1234) {
		t.Fatalf("config: %+v %v", cfg, err)
	}
	for name, want := range map[string][]byte{systemd.SocketUnit: systemd.Socket, systemd.ServiceUnit: systemd.Service} {
		got, err := os.ReadFile(filepath.Join(o.Root, UnitDir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("unit %s: %v", name, err)
		}
	}
	wantCmds := []string{
		"/usr/bin/systemctl daemon-reload",
		"/usr/bin/systemctl enable --now kftray-helper.socket",
		"/usr/bin/systemctl try-restart kftray-helper.service",
	}
	if strings.Join(rec.cmds, "\n") != strings.Join(wantCmds, "\n") {
		t.Fatalf("commands:\n%s", strings.Join(rec.cmds, "\n"))
	}

	// A second user's install keeps the first.
	o.AllowUID = 5678
	if err := Install(ctx, o); err != nil {
		t.Fatal(err)
	}
	cfg, _ = config.Load(filepath.Join(o.Root, config.DefaultPath), false)
	if !cfg.Allowed(1234) || !cfg.Allowed(5678) {
		t.Fatalf("allowed_uids = %v", cfg.AllowedUIDs)
	}

	rec.cmds = nil
	if err := Uninstall(ctx, o); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	var left []string
	filepath.Walk(o.Root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			left = append(left, strings.TrimPrefix(p, o.Root))
		}
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("uninstall left files: %v", left)
	}
	if rec.cmds[0] != "/usr/bin/systemctl disable --now kftray-helper.socket kftray-helper.service" {
		t.Fatalf("uninstall commands: %v", rec.cmds)
	}
}

func TestInstallRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("unsigned", func(t *testing.T) {
		o, _, _ := setup(t)
		os.Remove(o.Binary + ".minisig")
		if err := Install(ctx, o); err == nil || !strings.Contains(err.Error(), "refuses unsigned") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("tampered after signing", func(t *testing.T) {
		o, _, _ := setup(t)
		os.WriteFile(o.Binary, append(fakeHelper, '#'), 0o755)
		if err := Install(ctx, o); err == nil || !strings.Contains(err.Error(), "not valid") {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(filepath.Join(o.Root, BinPath)); err == nil {
			t.Fatal("a refused binary was installed")
		}
	})
	t.Run("symlinked binary", func(t *testing.T) {
		o, _, _ := setup(t)
		link := o.Binary + "-link"
		os.Symlink(o.Binary, link)
		o.Signature = o.Binary + ".minisig"
		o.Binary = link
		if err := Install(ctx, o); err == nil {
			t.Fatal("installed through a symlink")
		}
	})
	t.Run("insecure skip says so", func(t *testing.T) {
		o, _, out := setup(t)
		os.Remove(o.Binary + ".minisig")
		o.InsecureSkipSignature = true
		o.Init = InitNone
		if err := Install(ctx, o); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "WARNING: --insecure-skip-signature") || !strings.Contains(out.String(), "systemd is not running here") {
			t.Fatalf("output:\n%s", out)
		}
	})
}

func TestInstallNamePolicy(t *testing.T) {
	ctx := context.Background()
	o, _, out := setup(t)
	if err := Install(ctx, o); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(o.Root, config.DefaultPath)
	cfg, err := config.Load(cfgPath, false)
	if err != nil || strings.Join(cfg.Suffixes(), " ") != ".test" || cfg.SingleLabel() {
		t.Fatalf("default policy: suffixes %v, single labels %v, %v", cfg.Suffixes(), cfg.SingleLabel(), err)
	}
	if !strings.Contains(out.String(), "hosts names allowed: *.test; single-label names: refused") {
		t.Fatalf("install does not say the policy:\n%s", out)
	}

	o.AllowSuffixes = []string{".Local", ".internal", ".test"}
	o.AllowSingleLabel = true
	if err := Install(ctx, o); err != nil {
		t.Fatal(err)
	}
	// A later install without the flags keeps what the admin allowed.
	o.AllowSuffixes, o.AllowSingleLabel, o.AllowUID = nil, false, 999
	if err := Install(ctx, o); err != nil {
		t.Fatal(err)
	}
	cfg, _ = config.Load(cfgPath, false)
	if got := strings.Join(cfg.Suffixes(), " "); got != ".test .local .internal" || !cfg.SingleLabel() {
		t.Fatalf("after opt-in and a plain reinstall: suffixes %q, single labels %v", got, cfg.SingleLabel())
	}

	before, _ := os.ReadFile(cfgPath)
	o.AllowSuffixes = []string{"local"}
	if err := Install(ctx, o); err == nil || !strings.Contains(err.Error(), "--allow-suffix") {
		t.Fatalf("bad suffix: %v", err)
	}
	if after, _ := os.ReadFile(cfgPath); !bytes.Equal(before, after) {
		t.Fatal("a refused install changed the config")
	}
}
