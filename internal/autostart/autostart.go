// Package autostart makes kftray start at login: a systemd user unit for
// the daemon (and an XDG autostart entry for the tray) on Linux, launchd
// LaunchAgents on macOS. `kftray autostart enable|disable|status` uses it.
// The daemon restores the forwards that were running, so starting it at
// login brings them back.
package autostart

import (
	"encoding/xml"
	"fmt"
	"os/exec"
	"strings"
)

// Names of what it installs.
const (
	UnitName     = "kftray.service"      // ~/.config/systemd/user/
	DesktopName  = "kftray-tray.desktop" // ~/.config/autostart/
	DaemonLabel  = "dev.kftray.daemon"   // ~/Library/LaunchAgents/<label>.plist
	TrayLabel    = "dev.kftray.tray"
	launchAgents = "Library/LaunchAgents"
)

// Spec says what starts at login.
type Spec struct {
	Exe       string // absolute path of kftray
	ConfigDir string // absolute config directory, passed as --config-dir
	Tray      bool   // also the tray
	// Running: a daemon runs now (started on demand), so enabling starts
	// nothing (a second daemon would only find the first's lock).
	Running bool
}

// Env is the user's environment: where files go and how to run the
// service managers (tests pass their own).
type Env struct {
	Home       string // $HOME
	ConfigHome string // $XDG_CONFIG_HOME, else ~/.config
	UID        int
	// Systemctl and Launchctl are the managers' paths; "" when missing.
	Systemctl, Launchctl string
	// Run runs a manager command and returns its combined output.
	Run func(name string, args ...string) (string, error)
}

// Report is what a command did, and what it could not do.
type Report struct {
	Done     []string
	Problems []string
}

func (r *Report) done(format string, args ...any) {
	r.Done = append(r.Done, fmt.Sprintf(format, args...))
}
func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// RunCommand runs name with args and returns its combined output.
func RunCommand(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// SystemdUnit is the user unit that runs the daemon in the foreground
// (logs to the journal and daemon.log). It is restarted only when it
// crashes: a daemon that exits because another one holds the config
// directory must not be started again and again.
func SystemdUnit(s Spec) string {
	return "[Unit]\n" +
		"Description=kftray daemon: Kubernetes port forwards\n" +
		"Documentation=https://github.com/kftray-go/kftray\n" +
		"\n[Service]\n" +
		"Type=simple\n" +
		"ExecStart=" + systemdQuote(s.Exe) + " --config-dir " + systemdQuote(s.ConfigDir) + " daemon\n" +
		"Restart=on-abnormal\n" +
		"RestartSec=5s\n" +
		"TimeoutStopSec=60s\n" +
		"\n[Install]\n" +
		"WantedBy=default.target\n"
}

// systemdQuote quotes one ExecStart word: double quotes, with backslash,
// quote, and systemd's specifiers (%) and variables ($) escaped.
func systemdQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$", "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// DesktopEntry is the XDG autostart entry that starts the tray at login
// (the tray starts the daemon when none runs, so on desktops without
// systemd it brings the forwards back too).
func DesktopEntry(s Spec) string {
	return "[Desktop Entry]\n" +
		"Type=Application\n" +
		"Name=kftray tray\n" +
		"Comment=Kubernetes port forwards in the system tray\n" +
		"Exec=" + desktopQuote(s.Exe) + " --config-dir " + desktopQuote(s.ConfigDir) + " tray\n" +
		"Icon=network-transmit-receive\n" +
		"Terminal=false\n" +
		"NoDisplay=true\n" +
		"X-GNOME-Autostart-enabled=true\n"
}

// desktopQuote quotes one Exec argument as the Desktop Entry
// Specification says: double quotes, backslash before " ` $ \, and
// percent doubled (field codes). The file format then escapes each
// backslash once more.
func desktopQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", "$", `\$`)
	q := `"` + r.Replace(s) + `"`
	q = strings.ReplaceAll(q, `\`, `\\`)
	return strings.ReplaceAll(q, "%", "%%")
}

// LaunchAgent is a launchd property list that runs args at login. keep:
// launchd starts it again when it crashes (never when it exits).
func LaunchAgent(label string, args []string, keep bool) string {
	var b strings.Builder
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n<dict>\n")
	fmt.Fprintf(&b, "\t<key>Label</key>\n\t<string>%s</string>\n", esc(label))
	b.WriteString("\t<key>ProgramArguments</key>\n\t<array>\n")
	for _, a := range args {
		fmt.Fprintf(&b, "\t\t<string>%s</string>\n", esc(a))
	}
	b.WriteString("\t</array>\n")
	b.WriteString("\t<key>RunAtLoad</key>\n\t<true/>\n")
	if keep {
		b.WriteString("\t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>Crashed</key>\n\t\t<true/>\n\t</dict>\n")
	}
	b.WriteString("\t<key>ProcessType</key>\n\t<string>Interactive</string>\n")
	b.WriteString("</dict>\n</plist>\n")
	return b.String()
}

// DaemonArgs and TrayArgs are the commands the login items run.
func DaemonArgs(s Spec) []string {
	return []string{s.Exe, "--config-dir", s.ConfigDir, "daemon", "--detached"}
}

// TrayArgs runs the tray.
func TrayArgs(s Spec) []string { return []string{s.Exe, "--config-dir", s.ConfigDir, "tray"} }
