package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/cli/daemoncmd"
	"github.com/kftray-go/kftray/localapi"
)

// NewCmdSync builds `kftray config sync` and its subcommands.
func NewCmdSync(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand(&cobra.Command{
		Use:   "sync",
		Short: "Keep configs in sync with a kftray JSON file in a git repository",
		Long: "Keep configs in sync with a kftray JSON file in a git repository. The daemon fetches\n" +
			"the file (over https, or file:// for a local repository) on an interval and on\n" +
			"demand, and imports it as 'kftray config import' does. A sync that fails (network,\n" +
			"credentials, a bad file) changes nothing: the last good configs stay, and\n" +
			"'kftray config sync status' says why.",
	})
	cmd.AddCommand(newCmdSyncAdd(f), newCmdSyncNow(f), newCmdSyncStatus(f), newCmdSyncRm(f))
	return cmd
}

func newCmdSyncAdd(f *cmdutil.Factory) *cobra.Command {
	var src localapi.SyncSource
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add URL --path FILE",
		Short: "Sync configs from a file in a git repository",
		Long: "Add a git sync source and sync it once. The token (for https) is read from a file\n" +
			"that only you may read (chmod 600) at each sync; it is never stored or logged. TLS\n" +
			"certificates are always verified; --ca-file adds the roots of a private CA.",
		Example: "  kftray config sync add https://github.com/acme/platform.git --path kftray/dev.json --token-file ~/.config/kftray/gh-token\n" +
			"  kftray config sync add https://git.internal/team/cfg.git --path team.json --ref main --ca-file /etc/ssl/internal-ca.pem --interval 1h\n" +
			"  kftray config sync add file:///srv/git/team.git --path team.json --flush",
		Args: cmdutil.ExactArgs(1, "the repository URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			src.URL = args[0]
			for _, p := range []*string{&src.TokenFile, &src.CAFile} {
				if *p != "" {
					abs, err := filepath.Abs(*p)
					if err != nil {
						return err
					}
					*p = abs
				}
			}
			c, err := daemoncmd.EnsureDaemon(cmd, f)
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := c.AddSyncSource(cmd.Context(), src)
			if err != nil {
				return err
			}
			if asJSON {
				return cmdutil.WriteJSON(f.IO.Out, st)
			}
			fmt.Fprintf(f.IO.Out, "added git sync source %d\n", st.ID)
			return reportSync(f, st)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&src.Path, "path", "", "the kftray JSON file inside the repository (required)")
	fl.StringVar(&src.Ref, "ref", "", "branch (default: the repository's default branch)")
	fl.StringVar(&src.TokenFile, "token-file", "", "file (mode 0600) holding a token for https")
	fl.StringVar(&src.CAFile, "ca-file", "", "PEM bundle of extra CA certificates for https")
	fl.StringVar(&src.Interval, "interval", "10m", "time between syncs (0: only 'kftray config sync now')")
	fl.BoolVar(&src.Flush, "flush", false, "replace every stored config with the file's, instead of merging")
	fl.BoolVar(&asJSON, "json", false, "print the source's status as JSON")
	_ = cmd.MarkFlagRequired("path")
	return cmd
}

// reportSync prints how a source's last sync went; an error when it failed.
func reportSync(f *cmdutil.Factory, st localapi.SyncStatus) error {
	if st.LastError != "" {
		return fmt.Errorf("source %d: sync failed: %s", st.ID, st.LastError)
	}
	if st.Result != nil {
		fmt.Fprintf(f.IO.Out, "source %d: synced %s at commit %.12s: %d added, %d updated, %d unchanged\n", st.ID, st.Path, st.Commit,
			len(st.Result.Added), len(st.Result.Updated), len(st.Result.Unchanged))
	}
	return nil
}

func sourceID(arg string) (int64, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a source id (see 'kftray config sync status')", arg)
	}
	return id, nil
}

func newCmdSyncNow(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "now [ID]",
		Short: "Sync one source, or all, now",
		Args:  cmdutil.MaximumArgs(1, "one source ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id int64
			if len(args) == 1 {
				var err error
				if id, err = sourceID(args[0]); err != nil {
					return err
				}
			}
			c, err := daemoncmd.EnsureDaemon(cmd, f)
			if err != nil {
				return err
			}
			defer c.Close()
			list, err := c.SyncNow(cmd.Context(), id)
			if err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintln(f.IO.ErrOut, "No git sync sources. Add one with 'kftray config sync add URL --path FILE'.")
			}
			var failed error
			for _, st := range list {
				if err := reportSync(f, st); err != nil {
					fmt.Fprintln(f.IO.ErrOut, err)
					failed = fmt.Errorf("%d of %d syncs failed", countFailed(list), len(list))
				}
			}
			return failed
		},
	}
}

func countFailed(list []localapi.SyncStatus) int {
	n := 0
	for _, st := range list {
		if st.LastError != "" {
			n++
		}
	}
	return n
}

func newCmdSyncStatus(f *cmdutil.Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the git sync sources and how their last sync went",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemoncmd.EnsureDaemon(cmd, f)
			if err != nil {
				return err
			}
			defer c.Close()
			list, err := c.SyncSources(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return cmdutil.WriteJSON(f.IO.Out, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(f.IO.ErrOut, "No git sync sources. Add one with 'kftray config sync add URL --path FILE'.")
				return nil
			}
			tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tURL\tPATH\tREF\tINTERVAL\tCOMMIT\tLAST SUCCESS\tNEXT\tERROR")
			for _, st := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.ID, st.URL, st.Path, dash(st.Ref), orDefault(st.Interval, "10m"),
					dash(shortHash(st.Commit)), when(st.LastSuccess), when(st.NextSync), dash(st.LastError))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func newCmdSyncRm(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID",
		Short: "Stop syncing a source (the configs it imported stay)",
		Args:  cmdutil.ExactArgs(1, "one source ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := sourceID(args[0])
			if err != nil {
				return err
			}
			c, err := daemoncmd.EnsureDaemon(cmd, f)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RemoveSyncSource(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "removed git sync source %d\n", id)
			return nil
		},
	}
}
