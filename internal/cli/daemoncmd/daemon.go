// Package daemoncmd is `kftray daemon`: run the per-user daemon in the
// foreground, start it in the background, stop it, show its status.
package daemoncmd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/internal/buildinfo"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/cli/helpercmd"
	"github.com/kftray-go/kftray/internal/logging"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/ui/mcpserver"
	"github.com/kftray-go/kftray/ui/web"
)

// RunOptions are the inputs of `kftray daemon`.
type RunOptions struct {
	Factory  *cmdutil.Factory
	HTTPAddr string
	NoHTTP   bool
	Detached bool // started by the CLI: log only to the log file
}

// NewCmdDaemon builds `kftray daemon` and its subcommands.
func NewCmdDaemon(f *cmdutil.Factory) *cobra.Command {
	opts := &RunOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the kftray daemon in the foreground (start, stop, status: see subcommands)",
		Long: "The daemon owns every running forward of this user and serves the local API on\n" +
			"kftray.sock in the config directory (and on 127.0.0.1 with the token in api.token).\n" +
			"'kftray start' starts it on demand; 'kftray daemon' runs it in the foreground until\n" +
			"Ctrl-C or SIGTERM, which stop every forward cleanly. Forwards that were running are\n" +
			"restored when it starts. It logs JSON lines to daemon.log in the config directory.",
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runDaemon(cmd, opts) },
	}
	cmd.Flags().StringVar(&opts.HTTPAddr, "http-addr", fwdaemon.DefaultHTTPAddr, "loopback address of the token-protected HTTP API (port 0 picks one, written to api.addr)")
	cmd.Flags().BoolVar(&opts.NoHTTP, "no-http", false, "serve the API on the unix socket only")
	cmd.Flags().BoolVar(&opts.Detached, "detached", false, "log only to the log file, ignore SIGHUP and the terminal (set when the CLI starts the daemon)")
	_ = cmd.Flags().MarkHidden("detached")
	cmd.AddCommand(newCmdStart(f), newCmdStop(f), newCmdStatus(f))
	return cmd
}

func runDaemon(cmd *cobra.Command, opts *RunOptions) error {
	f := opts.Factory
	if opts.Detached {
		// Started in the background by a client: the terminal it ran in
		// may close at any time (its hangup is SIGHUP).
		signal.Ignore(syscall.SIGHUP)
		dropControllingTerminal()
	}
	dir, err := f.ConfigDir()
	if err != nil {
		return err
	}
	p := localapi.PathsIn(dir)
	logf, err := localapi.OpenLog(p)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := daemonLogger(logf, f, opts.Detached)
	addr := opts.HTTPAddr
	if opts.NoHTTP {
		addr = ""
	}
	err = fwdaemon.Run(cmd.Context(), fwdaemon.Options{Dir: dir, Log: log, HTTPAddr: addr,
		HelperProbe: helpercmd.Probe(buildinfo.Version),
		MCPHandler: func(c *localapi.Client) http.Handler {
			return mcpserver.HTTPHandler(mcpserver.Options{Connect: func(context.Context) (*localapi.Client, error) { return c, nil },
				Version: buildinfo.Get().Version, Log: log})
		},
		UI: web.Handler(),
		Ready: func(st localapi.Status) {
			if !opts.Detached {
				fmt.Fprintf(f.IO.ErrOut, "kftray daemon running (pid %d) on %s; Ctrl-C stops it\n", st.PID, st.Socket)
			}
		}})
	if err != nil {
		log.Error().Err(err).Msg("daemon")
	}
	return err
}

// daemonLogger writes JSON lines to the log file (info and up, more with
// -v) and, in the foreground, the usual stderr logger as well.
func daemonLogger(file io.Writer, f *cmdutil.Factory, detached bool) zerolog.Logger {
	fileLevel := zerolog.InfoLevel
	if lvl, err := logging.Level(f.Verbosity); err == nil && lvl < fileLevel {
		fileLevel = lvl
	}
	writers := []io.Writer{&zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: file}, Level: fileLevel}}
	min := fileLevel
	if !detached {
		errLog := f.Logger()
		lvl := errLog.GetLevel()
		writers = append(writers, &zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: errLog}, Level: lvl})
		if lvl < min {
			min = lvl
		}
	}
	return zerolog.New(zerolog.MultiLevelWriter(writers...)).Level(min).With().Timestamp().Int("pid", os.Getpid()).Logger()
}

// EnsureDaemon returns a client of this user's daemon, starting it in the
// background when none runs. Other commands (start) use it.
func EnsureDaemon(cmd *cobra.Command, f *cmdutil.Factory) (*localapi.Client, error) {
	dir, err := f.ConfigDir()
	if err != nil {
		return nil, err
	}
	// This is kftray: it starts the daemon as itself (tests run it under
	// another name, so FindKftray's name check would not do).
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the kftray binary to start the daemon: %w; start it yourself with 'kftray daemon'", err)
	}
	args, err := localapi.DaemonCommand(exe, dir, f.Verbosity)
	if err != nil {
		return nil, err
	}
	c, started, err := localapi.Ensure(cmd.Context(), localapi.EnsureOptions{Dir: dir, Command: args})
	if err != nil {
		return nil, err
	}
	if started {
		f.Logger().Info().Str("log", localapi.PathsIn(dir).Log).Msg("started the kftray daemon")
	} else if st, err := c.Status(cmd.Context()); err == nil && st.Version != buildinfo.Get().Version {
		// After an upgrade the old daemon keeps running the old code.
		f.Logger().Warn().Str("daemon", st.Version).Str("cli", buildinfo.Get().Version).
			Msg("the running daemon is another kftray version; restart it with 'kftray daemon stop' (its forwards are restored at its next start)")
	}
	return c, nil
}

func newCmdStart(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "start",
		Short: "Start the daemon in the background (if it is not running)",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := EnsureDaemon(cmd, f)
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "kftray daemon running (pid %d) on %s\n", st.PID, st.Socket)
			return nil
		},
	}
}

func newCmdStop(f *cmdutil.Factory) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the daemon: its forwards stop, and are restored when it starts again",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := f.ConfigDir()
			if err != nil {
				return err
			}
			was, err := fwdaemon.StopRunning(cmd.Context(), dir, wait)
			if err != nil {
				return err
			}
			if !was {
				fmt.Fprintln(f.IO.ErrOut, "kftray daemon is not running")
				return nil
			}
			fmt.Fprintln(f.IO.Out, "kftray daemon stopped")
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for the daemon to stop its forwards")
	return cmd
}

func newCmdStatus(f *cmdutil.Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the daemon runs (exit 1 when it does not)",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := f.ConfigDir()
			if err != nil {
				return err
			}
			p := localapi.PathsIn(dir)
			c := localapi.NewUnixClient(p.Socket)
			defer c.Close()
			st, err := c.Status(cmd.Context())
			if err != nil {
				if asJSON {
					_ = cmdutil.WriteJSON(f.IO.Out, map[string]any{"running": false, "error": err.Error()})
				} else {
					fmt.Fprintf(f.IO.Out, "kftray daemon: not running (%v)\n", err)
				}
				return cmdutil.ErrSilent
			}
			if asJSON {
				return cmdutil.WriteJSON(f.IO.Out, struct {
					Running bool `json:"running"`
					localapi.Status
				}{true, st})
			}
			fmt.Fprintf(f.IO.Out, "kftray daemon: running\n  pid:       %d\n  since:     %s\n  socket:    %s\n  http:      %s\n  forwards:  %s running\n  log:       %s\n",
				st.PID, st.StartedAt.Format(time.RFC3339), st.Socket, orOff(st.HTTPAddr), strconv.Itoa(st.Forwards), p.Log)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s + " (token in " + localapi.TokenName + ")"
}
