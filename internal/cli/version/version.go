// Package version is `kftray version`.
package version

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/internal/buildinfo"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
)

// Options for `kftray version`.
type Options struct {
	IO   *cmdutil.IOStreams
	JSON bool
}

// NewCmdVersion builds `kftray version`.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the kftray version",
		Args:  cmdutil.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return run(opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func run(opts *Options) error {
	info := buildinfo.Get()
	if opts.JSON {
		return cmdutil.WriteJSON(opts.IO.Out, info)
	}
	commit := ""
	if info.Commit != "" {
		commit = ", commit " + info.Commit[:min(12, len(info.Commit))]
		if info.Modified {
			commit += "+dirty"
		}
	}
	_, err := fmt.Fprintf(opts.IO.Out, "kftray %s (%s, %s%s)\n", info.Version, info.GoVersion, info.Platform, commit)
	return err
}
