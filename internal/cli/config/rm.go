package config

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
)

// RmOptions are the inputs of `kftray config rm`.
type RmOptions struct {
	Factory *cmdutil.Factory
	Refs    []string
}

// NewCmdRm builds `kftray config rm`.
func NewCmdRm(f *cmdutil.Factory, runF func(*cobra.Command, *RmOptions) error) *cobra.Command {
	opts := &RmOptions{Factory: f}
	return &cobra.Command{
		Use:     "rm NAME|ID...",
		Aliases: []string{"delete"},
		Short:   "Delete configs",
		Long:    "Delete configs. If any NAME or ID is unknown, nothing is deleted.",
		Args:    cmdutil.MinimumArgs(1, "at least one config NAME or ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Refs = args
			if runF != nil {
				return runF(cmd, opts)
			}
			return runRm(cmd, opts)
		},
	}
}

func runRm(cmd *cobra.Command, opts *RmOptions) error {
	ctx := cmd.Context()
	s, err := opts.Factory.Store(ctx)
	if err != nil {
		return err
	}
	var (
		victims []fwdconfig.Config
		ids     []int64
		errs    []error
		seen    = map[int64]bool{}
	)
	for _, ref := range opts.Refs {
		c, err := lookup(ctx, s, ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !seen[c.ID] {
			seen[c.ID] = true
			victims = append(victims, c)
			ids = append(ids, c.ID)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w\nnothing was deleted", errors.Join(errs...))
	}
	if err := s.DeleteConfigs(ctx, ids...); err != nil {
		return err
	}
	for _, c := range victims {
		fmt.Fprintf(opts.Factory.IO.Out, "deleted %s\n", describe(&c))
	}
	return nil
}
