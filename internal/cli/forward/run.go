package forward

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/forwarder"
	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// NewCmdRun builds `kftray run`.
func NewCmdRun(f *cmdutil.Factory) *cobra.Command {
	opts := &SelectOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "run NAME...|--all",
		Short: "Run forwards in the foreground, without the daemon, until Ctrl-C",
		Long: "Run the forwards of the named configs (alias or id) in this process, like kubefwd:\n" +
			"they reconnect through pod restarts and network loss, their state is in the store\n" +
			"(so 'kftray status' shows them), and Ctrl-C or SIGTERM stops them all cleanly.\n" +
			"State changes are printed as they happen.\n\n" +
			"Exit status: 0 after a clean stop, 1 when no forward could start or a named config\n" +
			"does not exist, 2 on usage errors.",
		Example: "  kftray run web db",
		RunE:    func(cmd *cobra.Command, args []string) error { return runRun(cmd, opts) },
	}
	cmd.Args = selectArgs(opts)
	cmd.Flags().BoolVar(&opts.All, "all", false, "run every config")
	return cmd
}

func runRun(cmd *cobra.Command, opts *SelectOptions) error {
	ctx := cmd.Context()
	f := opts.Factory
	st, err := f.Store(ctx)
	if err != nil {
		return err
	}
	cfgs, err := lookup(ctx, st, opts)
	if err != nil {
		return err
	}
	// Its relays carry this process's pid, so a daemon can delete them
	// once it is dead (killed with kill -9).
	eng := forwarder.Options{Relay: relay.Options{Owner: relay.Owner{Session: relay.RunSession(os.Getpid())}}}
	core := fwdaemon.NewCore(fwdaemon.CoreOptions{Store: st, Log: *f.Logger(), Engine: eng})
	if err := core.CheckNotRunElsewhere(ctx, cfgs...); err != nil {
		return err
	}
	events, unsubscribe := core.Hub().Subscribe()
	defer unsubscribe()
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); core.RunWriter(wctx, time.Second) }()
	// However run ends, its forwards stop and the store says so.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		core.StopAll(sctx)
		stopWriter()
		<-writerDone
		core.Flush(sctx)
		core.Close()
	}()

	if err := core.StartConfigs(ctx, cfgs...); err != nil {
		return err
	}
	last := map[int64]string{}
	up := 0
	for _, cfg := range cfgs {
		fw, err := core.Forward(ctx, fmt.Sprint(cfg.ID))
		if err != nil {
			return err
		}
		line := fw.Describe()
		last[fw.ID] = line
		if fw.Status == localapi.StatusFailed {
			fmt.Fprintf(f.IO.ErrOut, "%s: %s\n", fw.Name, line)
			continue
		}
		up++
		fmt.Fprintf(f.IO.Out, "%s: %s\n", fw.Name, line)
	}
	if up == 0 {
		return cmdutil.ErrSilent
	}
	fmt.Fprintf(f.IO.ErrOut, "Forwarding %d of %d; Ctrl-C stops.\n", up, len(cfgs))
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(f.IO.ErrOut, "Stopping...")
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil // fell behind; the store still has every state
				continue
			}
			if ev.Forward == nil {
				continue
			}
			// Print changes of status, pod or error, not counters.
			line := ev.Forward.Describe()
			if last[ev.Forward.ID] != line {
				last[ev.Forward.ID] = line
				fmt.Fprintf(f.IO.Out, "%s: %s\n", ev.Forward.Name, line)
			}
		}
	}
}

func lookup(ctx context.Context, st *store.Store, opts *SelectOptions) ([]fwdconfig.Config, error) {
	if opts.All {
		cfgs, err := st.ListConfigs(ctx)
		if err == nil && len(cfgs) == 0 {
			err = fmt.Errorf("no configs to run; add one with 'kftray config add'")
		}
		return cfgs, err
	}
	var out []fwdconfig.Config
	for _, ref := range opts.Refs {
		cfg, err := st.LookupConfig(ctx, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, cfg)
	}
	return out, nil
}
