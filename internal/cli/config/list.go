package config

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
)

// ListOptions are the inputs of `kftray config list`.
type ListOptions struct {
	Factory *cmdutil.Factory
	JSON    bool
}

// NewCmdList builds `kftray config list`.
func NewCmdList(f *cmdutil.Factory, runF func(*cobra.Command, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List configs",
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runList(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array (with ids)")
	return cmd
}

func runList(cmd *cobra.Command, opts *ListOptions) error {
	ctx := cmd.Context()
	s, err := opts.Factory.Store(ctx)
	if err != nil {
		return err
	}
	configs, err := s.ListConfigs(ctx)
	if err != nil {
		return err
	}
	io := opts.Factory.IO
	if opts.JSON {
		if configs == nil {
			configs = []fwdconfig.Config{}
		}
		return cmdutil.WriteJSON(io.Out, configs)
	}
	if len(configs) == 0 {
		fmt.Fprintln(io.ErrOut, "No configs. Add one with 'kftray config add' or import a file with 'kftray config import FILE'.")
		return nil
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTYPE\tPROTO\tCONTEXT\tNAMESPACE\tTARGET\tREMOTE\tLOCAL")
	for _, c := range configs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, dash(c.Alias), c.WorkloadType, c.Protocol,
			orDefault(c.Context, "(current)"), c.Namespace, target(&c), port(c.RemotePort), local(&c))
	}
	return tw.Flush()
}

func target(c *fwdconfig.Config) string {
	switch c.WorkloadType {
	case fwdconfig.WorkloadService:
		return "svc/" + c.Service
	case fwdconfig.WorkloadPod:
		return "pod/" + c.Target
	case fwdconfig.WorkloadProxy:
		return c.RemoteAddress
	}
	return dash(c.ExposureType)
}

func local(c *fwdconfig.Config) string {
	addr := c.LocalAddress
	switch {
	case addr == "" && c.AutoLoopbackAddress:
		addr = "(auto)"
	case addr == "":
		addr = "127.0.0.1"
	}
	p := "(any)"
	if c.LocalPort != 0 {
		p = strconv.Itoa(c.LocalPort)
	}
	return addr + ":" + p
}

func port(p int) string {
	if p == 0 {
		return "-"
	}
	return strconv.Itoa(p)
}

func dash(s string) string { return orDefault(s, "-") }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
