//go:build privileged

package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/minisign"
	"github.com/kftray-go/kftray/packaging/systemd"
)

// TestInstallRealHelperIntoTempRoot installs the real, signed kftray-helper
// as root into a temp root, checks ownership and modes, runs it, and
// uninstalls, which must sweep the hosts block with the installed binary.
func TestInstallRealHelperIntoTempRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("privileged tests need root")
	}
	ctx := context.Background()
	work := t.TempDir()
	bin := filepath.Join(work, "kftray-helper")
	out, err := exec.Command("go", "build", "-ldflags", "-X github.com/kftray-go/kftray/internal/buildinfo.Version=v0.9.0",
		"-o", bin, "github.com/kftray-go/kftray/cmd/kftray-helper").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(bin)
	pub, sk, _ := minisign.GenerateKey()
	sum := sha256.Sum256(data)
	sig, _ := minisign.Sign(sk, data, TrustedComment("v0.9.0", runtime.GOOS, runtime.GOARCH, hex.EncodeToString(sum[:])), "test")
	os.WriteFile(bin+".minisig", sig, 0o644)
	// The source file is the user's: install must not care who owns it.
	os.Chmod(bin, 0o4777)

	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	const userHosts = "127.0.0.1 localhost\n# mine\n"
	os.WriteFile(filepath.Join(root, "etc/hosts"), []byte(userHosts+"# BEGIN kftray managed block\n127.77.0.3 x.test # kftray:u1000-abc-web\n# END kftray managed block\n"), 0o644)

	var cmds []string
	o := Options{Root: root, Binary: bin, TrustedKeys: []minisign.PublicKey{pub}, Version: "v0.9.0",
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, AllowUID: 1000, Init: InitSystemd,
		Run: func(_ context.Context, name string, args ...string) error {
			cmds = append(cmds, name+" "+strings.Join(args, " "))
			return nil
		}}
	if err := Install(ctx, o); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{
		BinPath:            0o755,
		config.DefaultPath: 0o644,
		filepath.Join(UnitDir, systemd.SocketUnit):  0o644,
		filepath.Join(UnitDir, systemd.ServiceUnit): 0o644,
	} {
		st, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode() != mode || sys.Uid != 0 || sys.Gid != 0 {
			t.Errorf("%s: mode %v owner %d:%d, want %v root:root", path, st.Mode(), sys.Uid, sys.Gid, mode)
		}
		if st.Mode()&os.ModeSetuid != 0 {
			t.Errorf("%s is setuid", path)
		}
	}
	// The root config passes the service's own ownership checks.
	if _, err := config.Load(filepath.Join(root, config.DefaultPath), true); err != nil {
		t.Fatalf("installed config refused by the service's checks: %v", err)
	}
	s := GetStatus(ctx, Options{Root: root, Version: "v0.9.0", Init: InitNone}, 1000)
	if !s.Installed || s.Version != "v0.9.0" || !s.UpToDate || s.Setuid || !s.UserAllowed || s.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("status: %+v", s)
	}

	if err := Uninstall(ctx, o); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/hosts")); string(got) != userHosts {
		t.Fatalf("hosts after uninstall:\n%s", got)
	}
	for _, p := range []string{BinPath, config.DefaultPath, filepath.Join(UnitDir, systemd.ServiceUnit)} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s still present after uninstall", p)
		}
	}
}

// TestInstallDoesNotKeepAnUntrustedConfig: a config the service would
// refuse (here, owned by a user) is replaced, not rewritten root-owned with
// the uids it names.
func TestInstallDoesNotKeepAnUntrustedConfig(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("privileged tests need root")
	}
	o, _, out := setup(t)
	p := filepath.Join(o.Root, config.DefaultPath)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte(`{"allowed_uids": [4242]}`), 0o644)
	if err := os.Chown(p, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Allowed(4242) || !cfg.Allowed(o.AllowUID) {
		t.Fatalf("allowed_uids = %v after replacing a user-owned config; want only %d\n%s", cfg.AllowedUIDs, o.AllowUID, out)
	}
}
