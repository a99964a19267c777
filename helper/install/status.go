package install

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/packaging/launchd"
	"github.com/kftray-go/kftray/packaging/systemd"
)

// Status is what `kftray helper status` reports.
type Status struct {
	Installed   bool
	Version     string // of the installed binary
	SHA256      string
	Setuid      bool // must never be true
	Expected    string
	UpToDate    bool
	Init        string
	Service     string // e.g. "active", "inactive", "socket reachable"
	UserAllowed bool
	ConfigError string
	Names       string // the hosts name policy, for people
}

// GetStatus inspects an installation without changing it; it needs no root.
func GetStatus(ctx context.Context, o Options, uid uint32) Status {
	o.defaults()
	s := Status{Expected: o.Version, Init: o.Init}
	if st, err := os.Stat(o.path(BinPath)); err == nil {
		s.Installed = true
		s.Setuid = st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := exec.CommandContext(ctx, o.path(BinPath), "version").Output()
		cancel()
		if err == nil {
			// "kftray-helper v1.2.3 linux/amd64 sha256:... protocol 1"
			f := strings.Fields(string(out))
			if len(f) >= 4 {
				s.Version = f[1]
				s.SHA256 = strings.TrimPrefix(f[3], "sha256:")
			}
		}
	}
	s.UpToDate = s.Installed && (s.Expected == "" || s.Version == s.Expected)
	// On the real machine, judge the config as the service does: one it
	// would refuse allows nobody.
	if cfg, err := config.Load(o.path(config.DefaultPath), o.Root == "/"); err != nil {
		s.ConfigError = err.Error()
	} else {
		s.UserAllowed = cfg.Allowed(uid)
		s.Names = namePolicy(cfg)
	}
	switch o.Init {
	case InitSystemd:
		s.Service = query(ctx, "/usr/bin/systemctl", "is-active", systemd.SocketUnit)
	case InitLaunchd:
		if query(ctx, "/bin/launchctl", "print", "system/"+launchd.Label) != "" {
			s.Service = "loaded"
		} else {
			s.Service = "not loaded"
		}
	}
	if s.Service == "" || s.Service == "unknown" {
		if c, err := net.DialTimeout("unix", o.path(config.DefaultSocket), 2*time.Second); err == nil {
			c.Close()
			s.Service = "socket reachable"
		} else {
			s.Service = "not running"
		}
	}
	return s
}

// namePolicy says which hostnames the helper writes.
func namePolicy(cfg *config.Config) string {
	single := "refused (--allow-single-label allows them)"
	if cfg.SingleLabel() {
		single = "allowed"
	}
	return fmt.Sprintf("*%s; single-label names: %s; this machine's host name: never", strings.Join(cfg.Suffixes(), ", *"), single)
}

func query(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, name, args...).Output()
	return strings.TrimSpace(string(out))
}

// String renders the status for people, with the next step when one is
// needed.
func (s Status) String() string {
	var b strings.Builder
	if !s.Installed {
		fmt.Fprintf(&b, "helper:    not installed (%s)\n", BinPath)
		fmt.Fprintln(&b, "next:      sudo kftray helper install")
		return b.String()
	}
	fmt.Fprintf(&b, "helper:    %s %s\n", BinPath, s.Version)
	if s.Expected != "" {
		state := "up to date"
		if !s.UpToDate {
			state = "OUT OF DATE: run `sudo kftray helper install`"
		}
		fmt.Fprintf(&b, "expected:  %s (%s)\n", s.Expected, state)
	}
	if s.Setuid {
		fmt.Fprintln(&b, "WARNING:   the helper binary is setuid/setgid; it must not be. Reinstall it.")
	}
	fmt.Fprintf(&b, "service:   %s (%s)\n", s.Service, s.Init)
	switch {
	case s.ConfigError != "":
		fmt.Fprintf(&b, "config:    %s\n", s.ConfigError)
	case s.UserAllowed:
		fmt.Fprintln(&b, "this user: allowed")
	default:
		fmt.Fprintln(&b, "this user: NOT allowed; run `sudo kftray helper install` as this user")
	}
	if s.Names != "" {
		fmt.Fprintf(&b, "names:     %s\n", s.Names)
	}
	return b.String()
}
