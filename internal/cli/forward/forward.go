// Package forward is `kftray start`, `stop`, `status` and `run`: the
// commands that drive forwards, through the daemon (start, stop, status)
// or in the foreground without one (run).
package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/cli/daemoncmd"
	"github.com/kftray-go/kftray/localapi"
)

// SelectOptions are the inputs of start and stop.
type SelectOptions struct {
	Factory *cmdutil.Factory
	All     bool
	JSON    bool
	Refs    []string
}

func (o *SelectOptions) selection() localapi.Selection {
	return localapi.Selection{Refs: o.Refs, All: o.All}
}

func selectArgs(opts *SelectOptions) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if opts.All && len(args) > 0 {
			return cmdutil.FlagErrorf("%s takes config names or --all, not both", cmd.CommandPath())
		}
		if !opts.All && len(args) == 0 {
			return cmdutil.FlagErrorf("%s needs config names (alias or id) or --all", cmd.CommandPath())
		}
		opts.Refs = args
		return nil
	}
}

// NewCmdStart builds `kftray start`.
func NewCmdStart(f *cmdutil.Factory) *cobra.Command {
	opts := &SelectOptions{Factory: f}
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "start NAME...|--all",
		Short: "Start forwards in the daemon (starting the daemon if needed)",
		Long: "Start the forwards of the named configs (alias or id) in the background daemon,\n" +
			"which keeps them running (reconnecting through pod restarts and network loss)\n" +
			"and restores them when it restarts. Returns once each is listening or failed;\n" +
			"with --wait, once each is connected to a pod (running) or failed.\n\n" +
			"Exit status: 0 when every forward is listening (with --wait: running), 1 when any\n" +
			"failed, was not running in time, or the daemon could not be reached, 2 on usage errors.",
		Example: "  kftray start web db\n  kftray start --all --wait 30s",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemoncmd.EnsureDaemon(cmd, f)
			if err != nil {
				return err
			}
			defer c.Close()
			// The daemon's own environment is whoever started it: send the
			// kubeconfig this shell means, for configs that name none.
			sel := opts.selection()
			if env := kube.Environment(); env.Kubeconfig != "" {
				sel.Kube = &localapi.KubeEnv{Kubeconfig: env.Kubeconfig, Context: env.Context}
			}
			res, err := c.Start(cmd.Context(), sel)
			var se *localapi.StatusError
			if errors.As(err, &se) && se.Code == http.StatusBadRequest && strings.Contains(se.Msg, `unknown field "kube"`) {
				// A daemon from before kube was sent: it uses its own
				// environment, as it always did.
				f.Logger().Warn().Msg("the running daemon is older and uses its own KUBECONFIG for configs that name none; restart it with 'kftray daemon stop'")
				sel.Kube = nil
				res, err = c.Start(cmd.Context(), sel)
			}
			if err != nil {
				return err
			}
			if wait > 0 {
				res, err = waitRunning(cmd.Context(), c, res, wait)
				if err != nil {
					return err
				}
			}
			return report(f, res, opts.JSON, "started")
		},
	}
	cmd.Args = selectArgs(opts)
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for each forward to connect to a pod (0: return once listening)")
	cmd.Flags().BoolVar(&opts.All, "all", false, "start every config")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the results as JSON")
	return cmd
}

// waitRunning polls the started forwards until each is running or failed,
// or wait passes; those still not running then carry an error saying so.
func waitRunning(ctx context.Context, c *localapi.Client, res localapi.Results, wait time.Duration) (localapi.Results, error) {
	deadline := time.Now().Add(wait)
	for {
		pending := 0
		for i, r := range res.Results {
			if r.Error != "" || r.Forward == nil {
				continue
			}
			if r.Forward.Status != localapi.StatusRunning && r.Forward.Status != localapi.StatusFailed {
				fw, err := c.Forward(ctx, fmt.Sprint(r.Forward.ID))
				if err != nil {
					return res, err
				}
				res.Results[i].Forward = &fw
			}
			switch res.Results[i].Forward.Status {
			case localapi.StatusRunning:
			case localapi.StatusFailed:
				res.Results[i].Error = res.Results[i].Forward.LastError
			default:
				pending++
			}
		}
		if pending == 0 {
			return res, nil
		}
		if time.Now().After(deadline) {
			for i, r := range res.Results {
				if r.Error == "" && r.Forward != nil && r.Forward.Status != localapi.StatusRunning {
					res.Results[i].Error = fmt.Sprintf("not running after %s: %s", wait, r.Forward.Describe())
				}
			}
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// NewCmdStop builds `kftray stop`.
func NewCmdStop(f *cmdutil.Factory) *cobra.Command {
	opts := &SelectOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "stop NAME...|--all",
		Short: "Stop forwards (they are not restored when the daemon restarts)",
		Long: "Stop the forwards of the named configs (alias or id) wherever the daemon runs\n" +
			"them, and forget them as running. Without a daemon it clears what the store\n" +
			"says about them. Forwards of 'kftray run' are stopped with Ctrl-C there.\n\n" +
			"Exit status: 0 when every named forward is stopped, 1 otherwise, 2 on usage errors.",
		Example: "  kftray stop web\n  kftray stop --all",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir, err := f.ConfigDir()
			if err != nil {
				return err
			}
			c := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
			defer c.Close()
			res, err := c.Stop(ctx, opts.selection())
			if errors.Is(err, localapi.ErrNotRunning) {
				// No daemon: nothing runs in it, but the store may still
				// remember these forwards as running (desired, or states
				// of a process that died).
				st, serr := f.Store(ctx)
				if serr != nil {
					return serr
				}
				core := fwdaemon.NewCore(fwdaemon.CoreOptions{Store: st, Log: *f.Logger(), Remember: true})
				res, err = core.Stop(ctx, opts.selection())
			}
			if err != nil {
				return err
			}
			return report(f, res, opts.JSON, "stopped")
		},
	}
	cmd.Args = selectArgs(opts)
	cmd.Flags().BoolVar(&opts.All, "all", false, "stop every forward")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the results as JSON")
	return cmd
}

// report prints one line per result and fails (exit 1) if any failed.
func report(f *cmdutil.Factory, res localapi.Results, asJSON bool, verb string) error {
	if asJSON {
		if res.Results == nil {
			res.Results = []localapi.Result{}
		}
		if err := cmdutil.WriteJSON(f.IO.Out, res); err != nil {
			return err
		}
	} else {
		for _, r := range res.Results {
			name := r.Ref
			if r.Forward != nil {
				name = r.Forward.Name
			}
			switch {
			case r.Error != "" && strings.HasPrefix(r.Error, name+": "):
				fmt.Fprintln(f.IO.ErrOut, r.Error) // the engine already named it
			case r.Error != "":
				fmt.Fprintf(f.IO.ErrOut, "%s: %s\n", name, r.Error)
			case r.Forward == nil:
				fmt.Fprintf(f.IO.Out, "%s: %s\n", name, verb)
			default:
				fmt.Fprintf(f.IO.Out, "%s: %s\n", name, r.Forward.Describe())
			}
		}
	}
	if n := res.Failed(); n > 0 {
		if !asJSON && len(res.Results) > 1 {
			fmt.Fprintf(f.IO.ErrOut, "%d of %d failed\n", n, len(res.Results))
		}
		return cmdutil.ErrSilent
	}
	return nil
}

// NewCmdStatus builds `kftray status`.
func NewCmdStatus(f *cmdutil.Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [NAME...]",
		Short: "Show every forward: status, address, pod, connections, bytes, last error",
		Long: "Show the state of every config's forward (or the named ones). Asks the daemon when\n" +
			"it runs (live counters), else reads the store; never starts the daemon.\n" +
			"Exit status: 0, or 1 when a named config does not exist.",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir, err := f.ConfigDir()
			if err != nil {
				return err
			}
			c := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
			defer c.Close()
			fws, err := c.Forwards(ctx)
			if errors.Is(err, localapi.ErrNotRunning) {
				st, serr := f.Store(ctx)
				if serr != nil {
					return serr
				}
				fws, err = fwdaemon.StoredForwards(ctx, st)
			}
			if err != nil {
				return err
			}
			fws, err = pick(fws, args)
			if err != nil {
				return err
			}
			if asJSON {
				if fws == nil {
					fws = []localapi.Forward{}
				}
				return cmdutil.WriteJSON(f.IO.Out, fws)
			}
			if len(fws) == 0 {
				fmt.Fprintln(f.IO.ErrOut, "No configs. Add one with 'kftray config add' or import a file with 'kftray config import FILE'.")
				return nil
			}
			return table(f.IO.Out, fws)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array (the API's Forward objects)")
	return cmd
}

// pick keeps the forwards named by refs (alias, case-insensitive, or id).
func pick(fws []localapi.Forward, refs []string) ([]localapi.Forward, error) {
	if len(refs) == 0 {
		return fws, nil
	}
	var out []localapi.Forward
	for _, ref := range refs {
		found := false
		for _, fw := range fws {
			if fmt.Sprint(fw.ID) == ref || (fw.Config.Alias != "" && strings.EqualFold(fw.Config.Alias, ref)) {
				out = append(out, fw)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no config named %q (see 'kftray config list')", ref)
		}
	}
	return out, nil
}

func table(w io.Writer, fws []localapi.Forward) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tADDRESS\tPOD\tCONNS\tIN/OUT\tLAST ERROR")
	for _, fw := range fws {
		status := fw.Status
		if fw.Status == localapi.StatusRetrying && fw.Attempt > 0 {
			status = fmt.Sprintf("retrying(%d)", fw.Attempt)
		}
		addr, pod, conns := dash(fw.Address), dash(fw.Pod), "-"
		if fw.Status != localapi.StatusStopped && fw.Status != localapi.StatusFailed {
			conns = fmt.Sprintf("%d/%d", fw.ActiveConns, fw.TotalConns)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\n", fw.ID, fw.Name, status, addr, pod, conns,
			bytes(fw.BytesFromPod), bytes(fw.BytesToPod), oneLine(fw.LastError, 60))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return dash(s)
}

// bytes renders a byte count in IEC units.
func bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
