// Package cli is the kftray command line: the root command, global flags,
// error reporting and exit codes. Each command group lives in its own
// package under internal/cli.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/internal/cli/autostartcmd"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/cli/config"
	"github.com/kftray-go/kftray/internal/cli/daemoncmd"
	"github.com/kftray-go/kftray/internal/cli/forward"
	"github.com/kftray-go/kftray/internal/cli/helpercmd"
	"github.com/kftray-go/kftray/internal/cli/logscmd"
	"github.com/kftray-go/kftray/internal/cli/mcpcmd"
	"github.com/kftray-go/kftray/internal/cli/relaycmd"
	"github.com/kftray-go/kftray/internal/cli/traycmd"
	"github.com/kftray-go/kftray/internal/cli/uicmd"
	"github.com/kftray-go/kftray/internal/cli/version"
)

// Exit codes scripts can rely on.
const (
	ExitOK    = 0 // success
	ExitError = 1 // the command failed (bad input file, unknown config, I/O...)
	ExitUsage = 2 // bad flags, wrong arguments, unknown command
)

// NewRootCmd builds the kftray command tree.
func NewRootCmd(f *cmdutil.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "kftray",
		Short: "Manage Kubernetes port forwards",
		Long: "kftray manages Kubernetes port forwards for developers: many forwards to services, pods\n" +
			"and remote hosts, under real hostnames, surviving pod restarts and network loss.\n" +
			"Configs are kftray-compatible and live in configs.db in the config directory\n" +
			"(--config-dir, else $KFTRAY_CONFIG, else $XDG_CONFIG_HOME/kftray, else ~/.kftray).",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&f.ConfigDirFlag, "config-dir", "", "directory holding configs.db (default: $KFTRAY_CONFIG, $XDG_CONFIG_HOME/kftray or ~/.kftray)")
	root.PersistentFlags().CountVarP(&f.Verbosity, "verbose", "v", "log more to stderr (-v info, -vv debug, -vvv trace)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })
	cmdutil.GroupCommand(root)

	// The command list: adding a command is one line here.
	for _, newCmd := range []func(*cmdutil.Factory) *cobra.Command{
		config.NewCmdConfig,
		helpercmd.NewCmdHelper,
		forward.NewCmdStart, forward.NewCmdStop, forward.NewCmdStatus, forward.NewCmdRun, daemoncmd.NewCmdDaemon,
		relaycmd.NewCmdRelay,
		logscmd.NewCmdLogs,
		uicmd.NewCmdUI, traycmd.NewCmdTray, autostartcmd.NewCmdAutostart,
		mcpcmd.NewCmdMCP,
		version.NewCmdVersion,
	} {
		root.AddCommand(newCmd(f))
	}
	return root
}

// Main runs kftray with args (without the program name) and returns the
// exit code.
func Main(args []string, streams *cmdutil.IOStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &cmdutil.Factory{IO: streams}
	defer f.Close()

	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	return report(streams, cmd, err)
}

func report(streams *cmdutil.IOStreams, cmd *cobra.Command, err error) int {
	if errors.Is(err, cmdutil.ErrSilent) {
		return ExitError
	}
	var fe *cmdutil.FlagError
	// cobra reports an unknown top-level command with a plain error.
	if errors.As(err, &fe) || strings.HasPrefix(err.Error(), "unknown command ") {
		fmt.Fprintf(streams.ErrOut, "error: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(streams.ErrOut, "error: interrupted")
		return ExitError
	}
	fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	return ExitError
}
