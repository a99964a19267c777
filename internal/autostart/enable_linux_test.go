package autostart

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func testEnv(t *testing.T) Env {
	t.Helper()
	home := t.TempDir()
	return Env{Home: home, ConfigHome: filepath.Join(home, ".config"), UID: os.Getuid(), Run: RunCommand}
}

// TestEnableWithoutSystemd: with no systemctl the unit and the tray's
// entry are written, and the report says that nothing starts the daemon
// at login and what to do; disable removes both.
func TestEnableWithoutSystemd(t *testing.T) {
	e := testEnv(t)
	s := Spec{Exe: "/usr/bin/kftray", ConfigDir: "/home/me/.kftray", Tray: true}
	r, err := Enable(s, e)
	if err != nil {
		t.Fatal(err)
	}
	unit, err1 := os.ReadFile(e.unitPath())
	desk, err2 := os.ReadFile(e.desktopPath())
	if err1 != nil || err2 != nil || string(unit) != SystemdUnit(s) || string(desk) != DesktopEntry(s) {
		t.Fatalf("files: %v %v", err1, err2)
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "systemctl not found") || !strings.Contains(r.Problems[0], "kftray daemon start") {
		t.Fatalf("report %+v", r)
	}
	st, _ := Status(e)
	if !strings.Contains(strings.Join(st.Done, "\n"), UnitName+": installed") {
		t.Fatalf("status %+v", st)
	}
	r, err = Disable(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{e.unitPath(), e.desktopPath()} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s still there after disable (%+v)", p, r)
		}
	}
	r, _ = Disable(e)
	if len(r.Done) != 1 || !strings.Contains(r.Done[0], "nothing to disable") {
		t.Fatalf("disable twice: %+v", r)
	}
}

// TestEnableWithoutAUserManager: the real systemctl, on a machine whose
// systemd user manager cannot be reached (containers, CI): the report says
// the unit is written but not enabled, and the command to run.
func TestEnableWithoutAUserManager(t *testing.T) {
	bin, err := exec.LookPath("systemctl")
	if err != nil {
		t.Skip("no systemctl")
	}
	if exec.Command(bin, "--user", "is-system-running").Run() == nil {
		t.Skip("a systemd user manager runs here; this test is for machines without one")
	}
	e := testEnv(t)
	e.Systemctl = bin
	r, err := Enable(Spec{Exe: "/usr/bin/kftray", ConfigDir: "/home/me/.kftray"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "not reachable") || !strings.Contains(r.Problems[0], "systemctl --user enable "+UnitName) {
		t.Fatalf("report %+v", r)
	}
	if _, err := os.Stat(e.desktopPath()); !os.IsNotExist(err) {
		t.Fatal("tray entry written without Tray")
	}
}
