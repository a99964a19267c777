// Package autostartcmd is `kftray autostart enable|disable|status`.
package autostartcmd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/internal/autostart"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/envknob"
	"github.com/kftray-go/kftray/localapi"
)

// NewCmdAutostart builds `kftray autostart`.
func NewCmdAutostart(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "autostart",
		Short: "Start kftray at login (enable, disable, status)",
		Long: "Start the daemon at login, so the forwards that were running come back: a systemd user\n" +
			"unit (" + autostart.UnitName + ") on Linux, a LaunchAgent (" + autostart.DaemonLabel + ") on macOS; and the\n" +
			"tray (an XDG autostart entry, " + autostart.DesktopName + ", or a LaunchAgent), unless --no-tray.\n" +
			"Without systemd it writes the files and says what it could not do.",
	}
	var noTray bool
	enable := &cobra.Command{
		Use:   "enable",
		Short: "Install and enable the login items",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := environment()
			if err != nil {
				return err
			}
			dir, err := f.ConfigDir()
			if err != nil {
				return err
			}
			if dir, err = filepath.Abs(dir); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding the kftray binary: %w", err)
			}
			spec := autostart.Spec{Exe: exe, ConfigDir: dir, Tray: !noTray, Running: running(cmd.Context(), dir)}
			r, err := autostart.Enable(spec, env)
			return report(f, r, err)
		},
	}
	enable.Flags().BoolVar(&noTray, "no-tray", false, "start only the daemon at login, not the tray")
	disable := &cobra.Command{
		Use:   "disable",
		Short: "Remove the login items (a running daemon keeps running)",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := environment()
			if err != nil {
				return err
			}
			r, err := autostart.Disable(env)
			return report(f, r, err)
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show what starts at login",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := environment()
			if err != nil {
				return err
			}
			r, err := autostart.Status(env)
			return report(f, r, err)
		},
	}
	cmd.AddCommand(enable, disable, status)
	return cmd
}

func environment() (autostart.Env, error) {
	home := envknob.Get(envknob.Home)
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return autostart.Env{}, fmt.Errorf("no home directory (HOME is not set): %w", err)
		}
		home = h
	}
	ch := envknob.Get(envknob.XDGConfig)
	if ch == "" {
		ch = filepath.Join(home, ".config")
	}
	e := autostart.Env{Home: home, ConfigHome: ch, UID: os.Getuid(), Run: autostart.RunCommand}
	e.Systemctl, _ = exec.LookPath("systemctl")
	e.Launchctl, _ = exec.LookPath("launchctl")
	return e, nil
}

// running reports whether a daemon answers on dir's socket now.
func running(ctx context.Context, dir string) bool {
	c := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.Status(ctx)
	return err == nil
}

// report prints what was done and what could not be; the latter makes
// the exit status 1.
func report(f *cmdutil.Factory, r autostart.Report, err error) error {
	for _, l := range r.Done {
		fmt.Fprintln(f.IO.Out, l)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(f.IO.ErrOut, "could not: "+p)
	}
	if err != nil {
		return err
	}
	if len(r.Problems) > 0 {
		return cmdutil.ErrSilent
	}
	return nil
}
