// Command kftui is kftray's terminal UI: a client of the per-user kftray
// daemon (started on demand), so forwards started here keep running when
// it quits and can be stopped from the CLI or the web UI. See ui/tui.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/internal/buildinfo"
	"github.com/kftray-go/kftray/internal/envknob"
	"github.com/kftray-go/kftray/internal/paths"
	"github.com/kftray-go/kftray/ui/tui"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	o := tui.RunOptions{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	var configDir string
	var noColor bool
	code := 0
	cmd := &cobra.Command{
		Use:   "kftui",
		Short: "Terminal UI for kftray's port forwards",
		Long: "kftui shows every kftray config with its forward's live state and starts, stops,\n" +
			"adds, edits, imports and exports them through the per-user kftray daemon, which it\n" +
			"starts when none runs (like 'kftray start'). Forwards keep running in the daemon\n" +
			"when kftui quits, unless --stop-on-exit. Press ? in kftui for its keys.\n\n" +
			"Headless (no UI): --non-interactive with --auto-start and/or configs to import\n" +
			"(--configs-path FILE, --json TEXT or --stdin, kftray's JSON).",
		Example: "  kftui\n  kftui --configs-path team.json --auto-start\n" +
			"  kftui --non-interactive --auto-start --configs-path team.json\n" +
			"  kftui --non-interactive --stdin --auto-start --stop-on-exit < team.json",
		Version:       buildinfo.Get().Version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := paths.ConfigDir(configDir)
			if err != nil {
				return err
			}
			o.ConfigDir = dir
			o.NoColor = noColor || envknob.Get(envknob.NoColor) != ""
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			code = tui.Main(ctx, o)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&configDir, "config-dir", "", "kftray config directory (default $KFTRAY_CONFIG, $XDG_CONFIG_HOME/kftray or ~/.kftray)")
	fl.StringVar(&o.Kftray, "kftray", "", "the kftray program that runs the daemon (default: next to kftui, else on PATH)")
	fl.BoolVar(&o.StopOnExit, "stop-on-exit", false, "stop the forwards started from this kftui when it quits")
	fl.BoolVar(&noColor, "no-color", false, "no colors (also when NO_COLOR is set)")
	fl.StringVar(&o.ConfigsPath, "configs-path", "", "import this kftray JSON file first")
	fl.StringVar(&o.JSON, "json", "", "import these configs (kftray JSON text) first")
	fl.BoolVar(&o.Stdin, "stdin", false, "import configs (kftray JSON) read from standard input first")
	fl.BoolVar(&o.AutoStart, "auto-start", false, "start the imported configs (every config when none are given)")
	fl.BoolVar(&o.NonInteractive, "non-interactive", false, "no UI: import and start, print the results and exit")
	fl.CountVarP(&o.Verbosity, "verbose", "v", "more daemon logging when kftui starts the daemon (-v, -vv)")
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		// RunE reports through code; what gets here is a usage mistake.
		fmt.Fprintln(os.Stderr, "kftui:", err)
		return 2
	}
	return code
}
