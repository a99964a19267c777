package config

import (
	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/internal/cli/cmdutil"
)

// ShowOptions are the inputs of `kftray config show`.
type ShowOptions struct {
	Factory *cmdutil.Factory
	Ref     string
}

// NewCmdShow builds `kftray config show`.
func NewCmdShow(f *cmdutil.Factory, runF func(*cobra.Command, *ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{Factory: f}
	return &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Print one config as JSON",
		Long:  "Print one config as JSON, in kftray's format plus its id.",
		Args:  cmdutil.ExactArgs(1, "one config NAME or ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if runF != nil {
				return runF(cmd, opts)
			}
			return runShow(cmd, opts)
		},
	}
}

func runShow(cmd *cobra.Command, opts *ShowOptions) error {
	ctx := cmd.Context()
	s, err := opts.Factory.Store(ctx)
	if err != nil {
		return err
	}
	c, err := lookup(ctx, s, opts.Ref)
	if err != nil {
		return err
	}
	return cmdutil.WriteJSON(opts.Factory.IO.Out, c)
}
