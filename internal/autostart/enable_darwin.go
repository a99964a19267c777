package autostart

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kftray-go/kftray/internal/atomicfile"
)

func (e Env) plist(label string) string {
	return filepath.Join(e.Home, launchAgents, label+".plist")
}

// Enable installs the LaunchAgents and loads them.
func Enable(s Spec, e Env) (Report, error) {
	var r Report
	agents := []struct {
		label string
		args  []string
		keep  bool
	}{{DaemonLabel, DaemonArgs(s), true}}
	if s.Tray {
		agents = append(agents, struct {
			label string
			args  []string
			keep  bool
		}{TrayLabel, TrayArgs(s), false})
	}
	for _, a := range agents {
		p := e.plist(a.label)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return r, err
		}
		if err := atomicfile.WriteFile(p, []byte(LaunchAgent(a.label, a.args, a.keep)), 0o644); err != nil {
			return r, fmt.Errorf("writing %s: %w", p, err)
		}
		r.done("wrote %s", p)
		if e.Launchctl == "" {
			r.problem("launchctl not found: %s is written but not loaded; it loads at your next login", p)
			continue
		}
		if a.label == DaemonLabel && s.Running {
			r.done("a daemon runs now (started on demand); launchd starts the next one at login")
			continue
		}
		domain := fmt.Sprintf("gui/%d", e.UID)
		_, _ = e.Run(e.Launchctl, "bootout", domain+"/"+a.label) // an older copy
		if out, err := e.Run(e.Launchctl, "bootstrap", domain, p); err != nil {
			r.problem("launchctl bootstrap %s %s: %v: %s; it loads at your next login", domain, p, err, out)
			continue
		}
		r.done("loaded %s", a.label)
	}
	return r, nil
}

// Disable unloads and removes the LaunchAgents; a running daemon keeps
// running.
func Disable(e Env) (Report, error) {
	var r Report
	for _, label := range []string{DaemonLabel, TrayLabel} {
		p := e.plist(label)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if e.Launchctl != "" {
			// Unloading the daemon's agent would stop it: leave it loaded
			// until logout, remove the file so it does not come back.
			if label == TrayLabel {
				_, _ = e.Run(e.Launchctl, "bootout", fmt.Sprintf("gui/%d/%s", e.UID, label))
			}
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return r, err
		}
		r.done("removed %s", p)
	}
	if len(r.Done) == 0 {
		r.done("nothing to disable: kftray does not start at login")
	}
	return r, nil
}

// Status says what is installed and whether launchd has it loaded.
func Status(e Env) (Report, error) {
	var r Report
	for _, label := range []string{DaemonLabel, TrayLabel} {
		p := e.plist(label)
		state := "not installed"
		if _, err := os.Stat(p); err == nil {
			state = "installed"
			if e.Launchctl != "" {
				if _, err := e.Run(e.Launchctl, "print", fmt.Sprintf("gui/%d/%s", e.UID, label)); err == nil {
					state += ", loaded"
				} else {
					state += ", not loaded"
				}
			}
		}
		r.done("%s: %s", p, state)
	}
	return r, nil
}
