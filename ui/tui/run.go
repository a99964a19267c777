package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kftray-go/kftray/localapi"
)

// RunOptions are kftui's command line.
type RunOptions struct {
	ConfigDir string // the kftray config directory (paths.ConfigDir)
	// Kftray is the kftray program that runs the daemon; "" finds it
	// (next to kftui, else on PATH).
	Kftray     string
	Verbosity  int
	StopOnExit bool
	NoColor    bool

	// Configs to import first: a file, inline JSON or stdin (kftray JSON).
	ConfigsPath string
	JSON        string
	Stdin       bool
	// AutoStart starts the imported configs (all configs when none are
	// given); NonInteractive does the import and start and exits (or, with
	// StopOnExit, waits for Ctrl-C and stops what it started).
	AutoStart      bool
	NonInteractive bool

	In          io.Reader
	Out, ErrOut io.Writer
}

// Main runs kftui and returns its exit status.
func Main(ctx context.Context, o RunOptions) int {
	if err := run(ctx, o); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			return int(ex)
		}
		fmt.Fprintln(o.ErrOut, "kftui:", err)
		return 1
	}
	return 0
}

type exitError int

func (e exitError) Error() string { return "exit " + strconv.Itoa(int(e)) }

func run(ctx context.Context, o RunOptions) error {
	nsrc := 0
	for _, given := range []bool{o.ConfigsPath != "", o.JSON != "", o.Stdin} {
		if given {
			nsrc++
		}
	}
	if nsrc > 1 {
		return errors.New("give configs one way: --configs-path FILE, --json TEXT or --stdin")
	}
	if o.NonInteractive && nsrc == 0 && !o.AutoStart {
		return errors.New("--non-interactive has nothing to do: give configs (--configs-path, --json, --stdin) and/or --auto-start")
	}
	ensure := func(ctx context.Context) (*localapi.Client, error) {
		args, err := localapi.DaemonCommand(o.Kftray, o.ConfigDir, o.Verbosity)
		if err != nil {
			return nil, err
		}
		c, _, err := localapi.Ensure(ctx, localapi.EnsureOptions{Dir: o.ConfigDir, Command: args})
		return c, err
	}
	c, err := ensure(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	var data []byte
	switch {
	case o.ConfigsPath != "":
		if data, err = os.ReadFile(o.ConfigsPath); err != nil {
			return fmt.Errorf("reading configs: %w", err)
		}
	case o.JSON != "":
		data = []byte(o.JSON)
	case o.Stdin:
		if data, err = io.ReadAll(io.LimitReader(o.In, 8<<20)); err != nil {
			return fmt.Errorf("reading configs from stdin: %w", err)
		}
	}
	sel := localapi.Selection{All: true}
	if data != nil {
		res, err := c.ImportConfigs(ctx, data)
		if err != nil {
			return fmt.Errorf("importing configs: %w", err)
		}
		fmt.Fprintf(o.ErrOut, "imported: %d added, %d updated, %d unchanged\n", len(res.Added), len(res.Updated), len(res.Unchanged))
		sel = localapi.Selection{Refs: idRefs(slices.Concat(res.Added, res.Updated, res.Unchanged))}
	}

	var started []int64
	failed := 0
	if o.AutoStart && (sel.All || len(sel.Refs) > 0) {
		res, err := c.Start(ctx, sel)
		if err != nil {
			return fmt.Errorf("starting forwards: %w", err)
		}
		for _, r := range res.Results {
			if r.Forward != nil {
				started = append(started, r.Forward.ID)
			}
			if o.NonInteractive {
				printResult(o, r)
			}
		}
		failed = res.Failed()
	}

	if o.NonInteractive {
		if o.StopOnExit && len(started) > 0 {
			fmt.Fprintln(o.ErrOut, "forwarding; Ctrl-C stops these forwards and exits")
			<-ctx.Done()
			stopStarted(o, c, started)
		} else if len(started) > 0 {
			fmt.Fprintln(o.ErrOut, "the forwards keep running in the kftray daemon: 'kftray status' shows them, 'kftray stop --all' stops them")
		}
		if failed > 0 {
			return exitError(1)
		}
		return nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cwd, _ := os.Getwd()
	m := New(ctx, Options{
		Backend: ClientBackend(c), Desktop: SystemDesktop{}, ConfigDir: o.ConfigDir, StartDir: cwd, NoColor: o.NoColor,
		Started: started, SettingHelp: SettingHelp,
		Ensure: func(ctx context.Context) error {
			nc, err := ensure(ctx)
			if nc != nil {
				nc.Close()
			}
			return err
		},
	})
	final, err := tea.NewProgram(m, tea.WithContext(ctx)).Run()
	cancel()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrInterrupted) && !errors.Is(err, context.Canceled) {
		return err
	}
	fm, ok := final.(Model)
	if !ok {
		return nil
	}
	if o.StopOnExit {
		stopStarted(o, c, fm.StartedHere())
		return nil
	}
	switch n := fm.Running(); n {
	case 0:
	case 1:
		fmt.Fprintln(o.Out, "kftui: 1 forward keeps running in the kftray daemon ('kftray status' shows it, 'kftray stop --all' stops it)")
	default:
		fmt.Fprintf(o.Out, "kftui: %d forwards keep running in the kftray daemon ('kftray status' shows them, 'kftray stop --all' stops them)\n", n)
	}
	return nil
}

// stopStarted stops the forwards this session started (--stop-on-exit);
// it runs after the UI or the wait ended, on a fresh context.
func stopStarted(o RunOptions, c *localapi.Client, ids []int64) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Stop(ctx, localapi.Selection{Refs: idRefs(ids)})
	if err != nil {
		fmt.Fprintf(o.ErrOut, "kftui: stopping the forwards started here: %v\n", err)
		return
	}
	fmt.Fprintf(o.Out, "kftui: stopped %s started here (--stop-on-exit)\n", plural(len(res.Results)-res.Failed(), "forward"))
	for _, r := range res.Results {
		if r.Error != "" {
			fmt.Fprintf(o.ErrOut, "%s: %s\n", r.Ref, r.Error)
		}
	}
}

// idRefs names configs by id, as a Selection takes them.
func idRefs(ids []int64) []string {
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = strconv.FormatInt(id, 10)
	}
	return refs
}

// printResult prints one start result as `kftray start` does.
func printResult(o RunOptions, r localapi.Result) {
	name := r.Ref
	if r.Forward != nil {
		name = r.Forward.Name
	}
	switch {
	case r.Error != "" && strings.HasPrefix(r.Error, name+": "):
		fmt.Fprintln(o.ErrOut, r.Error)
	case r.Error != "":
		fmt.Fprintf(o.ErrOut, "%s: %s\n", name, r.Error)
	case r.Forward != nil:
		fmt.Fprintf(o.Out, "%s: %s\n", name, r.Forward.Describe())
	}
}
