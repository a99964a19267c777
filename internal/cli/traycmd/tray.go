// Package traycmd is `kftray tray`: the tray icon (ui/tray).
package traycmd

import (
	"context"
	"log"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/cli/daemoncmd"
	"github.com/kftray-go/kftray/internal/cli/uicmd"
	"github.com/kftray-go/kftray/ui/tray"
)

// NewCmdTray builds `kftray tray`.
func NewCmdTray(f *cmdutil.Factory) *cobra.Command {
	var noNotify bool
	cmd := &cobra.Command{
		Use:   "tray",
		Short: "Show kftray in the system tray (starting the daemon if needed)",
		Long: "Put a kftray icon in the desktop's system tray (a StatusNotifierItem on Linux, the menu\n" +
			"bar on macOS): every forward with a check mark that starts or stops it, start all, stop\n" +
			"all, open the web UI, quit. The icon turns red-dotted while a forward is failing, and\n" +
			"desktop notifications say when one fails or recovers after retrying (rate limited; off\n" +
			"with the setting notifications_enabled=false or --no-notifications). Quitting the tray\n" +
			"leaves the forwards running in the daemon.",
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemoncmd.EnsureDaemon(cmd, f)
			if err != nil {
				return err
			}
			defer c.Close()
			dir, err := f.ConfigDir()
			if err != nil {
				return err
			}
			lg := *f.Logger()
			// The tray library logs with the standard logger: keep it
			// quiet unless asked (-v).
			log.SetFlags(0)
			log.SetOutput(zerologWriter{lg})
			opts := tray.Options{Client: c, Log: lg, Open: func(ctx context.Context) error {
				_, err := uicmd.Open(ctx, c, dir)
				return err
			}}
			if err := tray.CheckDesktop(opts); err != nil {
				return err
			}
			if !noNotify {
				n, err := tray.NewNotifier()
				if err != nil {
					lg.Warn().Err(err).Msg("no desktop notifications")
				} else {
					defer n.Close()
					opts.Notify = n
				}
			}
			return tray.Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&noNotify, "no-notifications", false, "show no desktop notifications")
	return cmd
}

type zerologWriter struct{ l zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.l.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
