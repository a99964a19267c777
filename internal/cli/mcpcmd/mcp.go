// Package mcpcmd is `kftray mcp`: the MCP server (ui/mcpserver) on stdio,
// which editors and AI assistants launch.
package mcpcmd

import (
	"context"
	"errors"
	"sync"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/internal/buildinfo"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/internal/cli/daemoncmd"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/ui/mcpserver"
)

// NewCmdMCP builds `kftray mcp`.
func NewCmdMCP(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "mcp",
		Short: "Serve kftray to an AI assistant over MCP on stdin/stdout (see docs/mcp.md)",
		Long: "kftray mcp is a Model Context Protocol server on stdin/stdout, for an editor or AI assistant\n" +
			"to launch: its tools list clusters, services and pods, edit configs and start, stop and\n" +
			"watch forwards, all through this user's daemon (started on demand, as 'kftray start'\n" +
			"does). stdout carries the protocol; logs go to stderr (warnings only; more with -v).\n" +
			"The daemon can also serve MCP over HTTP on loopback: the setting mcp_server_enabled.",
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return mcpserver.ServeStdio(cmd.Context(), f.IO.In, f.IO.Out, mcpserver.Options{
				Connect: connector(cmd, f),
				Kube:    clientKube,
				Version: buildinfo.Get().Version,
				Log:     *f.Logger(),
			})
		},
	}
}

// clientKube is the kubeconfig this process (the editor's environment)
// means, sent for tools and configs that name none, as `kftray start`
// sends the shell's.
func clientKube() *localapi.KubeEnv {
	env := kube.Environment()
	if env.Kubeconfig == "" {
		return nil
	}
	return &localapi.KubeEnv{Kubeconfig: env.Kubeconfig, Context: env.Context}
}

// connector returns a client of the daemon for each tool call, starting
// the daemon when none answers (at the first call, or when it was stopped
// since).
func connector(cmd *cobra.Command, f *cmdutil.Factory) func(context.Context) (*localapi.Client, error) {
	var mu sync.Mutex
	var c *localapi.Client
	return func(ctx context.Context) (*localapi.Client, error) {
		mu.Lock()
		defer mu.Unlock()
		if c != nil {
			_, err := c.Status(ctx)
			if err == nil {
				return c, nil
			}
			if !errors.Is(err, localapi.ErrNotRunning) {
				return nil, err
			}
			c.Close()
			c = nil
		}
		nc, err := daemoncmd.EnsureDaemon(cmd, f)
		if err != nil {
			return nil, err
		}
		c = nc
		return c, nil
	}
}
