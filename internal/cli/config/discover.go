package config

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/cli/daemoncmd"
	"github.com/kftray-go/kftray/localapi"
)

// DiscoverOptions are the inputs of `kftray config discover`.
type DiscoverOptions struct {
	Factory    *cmdutil.Factory
	Req        localapi.DiscoverRequest
	Namespaces []string
	JSON       bool
}

// NewCmdDiscover builds `kftray config discover`.
func NewCmdDiscover(f *cmdutil.Factory, runF func(*cobra.Command, *DiscoverOptions) error) *cobra.Command {
	opts := &DiscoverOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "Add configs from Services annotated kftray.app/enabled",
		Long: "Scan a cluster for Services annotated kftray.app/enabled: \"true\" and add the configs\n" +
			"they give, as the kftray app's auto import does: one per entry of kftray.app/configs\n" +
			"(\"alias-localPort-remotePort,...\"; the alias may contain hyphens, the remote port is a\n" +
			"Service port number or name), or one per Service port without it. Configs that are the\n" +
			"same forward as a stored one update it, as 'kftray config import' does. Entries that\n" +
			"give no config are listed with their Service and the reason.",
		Example: "  kftray config discover --context dev -n shop\n" +
			"  kftray config discover --context dev --alias-as-domain --auto-loopback --dry-run",
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runDiscover(cmd, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Req.Context, "context", "", "kubeconfig context to scan (default: the current context)")
	fl.StringVar(&opts.Req.Kubeconfig, "kubeconfig", "", "kubeconfig file stored in the configs (default: KUBECONFIG or ~/.kube/config, not stored)")
	fl.StringSliceVarP(&opts.Namespaces, "namespace", "n", nil, "namespaces to scan, comma separated (default: all)")
	fl.BoolVar(&opts.Req.AliasAsDomain, "alias-as-domain", false, "use each alias as a hostname (domain_enabled)")
	fl.BoolVar(&opts.Req.AutoLoopback, "auto-loopback", false, "give each forward its own loopback address (auto_loopback_address)")
	fl.BoolVar(&opts.Req.DryRun, "dry-run", false, "show what would change, change nothing")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func runDiscover(cmd *cobra.Command, opts *DiscoverOptions) error {
	req := opts.Req
	for _, ns := range opts.Namespaces {
		if ns = strings.TrimSpace(ns); ns != "" {
			req.Namespaces = append(req.Namespaces, ns)
		}
	}
	if req.Kubeconfig == "" {
		env := kube.Environment()
		if env.Kubeconfig != "" {
			req.Kube = &localapi.KubeEnv{Kubeconfig: env.Kubeconfig, Context: env.Context}
		}
		// Store the context by name: the current context may change.
		if req.Context == "" {
			req.Context = env.Context
		}
	}
	c, err := daemoncmd.EnsureDaemon(cmd, opts.Factory)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.DiscoverConfigs(cmd.Context(), req)
	if err != nil {
		return err
	}
	io := opts.Factory.IO
	if opts.JSON {
		return cmdutil.WriteJSON(io.Out, res)
	}
	if len(res.Services) == 0 {
		fmt.Fprintf(io.ErrOut, "No Service annotated %s: \"true\" in context %q.\n", "kftray.app/enabled", req.Context)
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	var n [4]int
	for _, ch := range res.Changes {
		switch ch.Action {
		case fwdconfig.ChangeAdd:
			n[0]++
		case fwdconfig.ChangeUpdate:
			n[1]++
		case fwdconfig.ChangeUnchanged:
			n[2]++
			continue
		}
		id := "-"
		if ch.ID != 0 {
			id = fmt.Sprint(ch.ID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%d -> %d\n", ch.Action, id, dash(ch.Config.Alias), ch.Config.Namespace, ch.Config.Service,
			ch.Config.LocalPort, ch.Config.RemotePort)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range res.Problems {
		where := p.Namespace + "/" + p.Service
		if p.Entry != "" {
			where += " " + p.Entry
		}
		fmt.Fprintf(io.ErrOut, "skipped %s: %s\n", where, p.Message)
	}
	if res.DryRun {
		_, err = fmt.Fprintf(io.Out, "dry run, nothing changed: %d services: %d to add, %d to update, %d unchanged, %d skipped\n",
			len(res.Services), n[0], n[1], n[2], len(res.Problems))
		return err
	}
	_, err = fmt.Fprintf(io.Out, "discovered %d services: %d added, %d updated, %d unchanged, %d skipped\n",
		len(res.Services), n[0], n[1], n[2], len(res.Problems))
	return err
}
