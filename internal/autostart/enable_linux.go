package autostart

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kftray-go/kftray/internal/atomicfile"
)

func (e Env) unitPath() string    { return filepath.Join(e.ConfigHome, "systemd", "user", UnitName) }
func (e Env) desktopPath() string { return filepath.Join(e.ConfigHome, "autostart", DesktopName) }

func write(path, content string, r *Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	r.done("wrote %s", path)
	return nil
}

// systemctl runs `systemctl --user ARGS`; false (with a problem said) when
// systemd's user manager cannot be reached.
func (e Env) systemctl(r *Report, args ...string) (string, bool) {
	if e.Systemctl == "" {
		r.problem("systemctl not found: this system has no systemd, so nothing starts the daemon at login; " +
			"the tray's autostart entry starts it (desktops that follow XDG autostart), or add 'kftray daemon start' to your session's startup")
		return "", false
	}
	out, err := e.Run(e.Systemctl, append([]string{"--user"}, args...)...)
	if err != nil {
		r.problem("systemctl --user %s: %v: %s; systemd's user manager is not reachable here (a container, or no login session): "+
			"the unit is written but not enabled; in your desktop session run: systemctl --user daemon-reload && systemctl --user enable %s",
			args[0], err, out, UnitName)
		return out, false
	}
	return out, true
}

// Enable installs and enables the login items.
func Enable(s Spec, e Env) (Report, error) {
	var r Report
	if err := write(e.unitPath(), SystemdUnit(s), &r); err != nil {
		return r, err
	}
	if s.Tray {
		if err := write(e.desktopPath(), DesktopEntry(s), &r); err != nil {
			return r, err
		}
	}
	if _, ok := e.systemctl(&r, "daemon-reload"); !ok {
		return r, nil
	}
	if _, ok := e.systemctl(&r, "enable", UnitName); !ok {
		return r, nil
	}
	r.done("enabled %s: the daemon starts at login and restores the forwards that were running", UnitName)
	if s.Running {
		r.done("a daemon runs now (started on demand); systemd starts the next one at login")
	} else if _, ok := e.systemctl(&r, "start", UnitName); ok {
		r.done("started %s", UnitName)
	}
	return r, nil
}

// Disable disables and removes the login items; a running daemon keeps
// running.
func Disable(e Env) (Report, error) {
	var r Report
	if _, err := os.Stat(e.unitPath()); err == nil {
		if _, ok := e.systemctl(&r, "disable", UnitName); ok {
			r.done("disabled %s", UnitName)
		}
	}
	for _, p := range []string{e.unitPath(), e.desktopPath()} {
		switch err := os.Remove(p); {
		case err == nil:
			r.done("removed %s", p)
		case !errors.Is(err, os.ErrNotExist):
			return r, err
		}
	}
	if e.Systemctl != "" {
		_, _ = e.Run(e.Systemctl, "--user", "daemon-reload")
	}
	if len(r.Done) == 0 {
		r.done("nothing to disable: kftray does not start at login")
	}
	return r, nil
}

// Status says what is installed and what systemd thinks of it.
func Status(e Env) (Report, error) {
	var r Report
	for _, p := range []string{e.unitPath(), e.desktopPath()} {
		if _, err := os.Stat(p); err == nil {
			r.done("%s: installed", p)
		} else {
			r.done("%s: not installed", p)
		}
	}
	if e.Systemctl == "" {
		r.problem("systemctl not found: no systemd here")
		return r, nil
	}
	enabled, _ := e.Run(e.Systemctl, "--user", "is-enabled", UnitName)
	active, _ := e.Run(e.Systemctl, "--user", "is-active", UnitName)
	r.done("%s: %s, %s", UnitName, orUnknown(enabled), orUnknown(active))
	return r, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
