// Package mcpserver is kftray's Model Context Protocol server: tools and
// resources for AI assistants, built on the official Go SDK
// (github.com/modelcontextprotocol/go-sdk). It is a thin layer over the
// daemon's local API (localapi): every tool is one or a few API calls, so
// what an assistant does shows in every other interface and the other way
// round.
//
// Two transports: `kftray mcp` serves it on stdio (ServeStdio, what
// editors launch), and the daemon serves Streamable HTTP on loopback
// (HTTPHandler) when the setting mcp_server_enabled is on, behind the API
// token and Host and Origin checks (forwarder/httpapi.Guard).
//
// Guard rails: every tool is annotated read-only or as what it changes
// (destructive, idempotent); lists are paged (cursor, limit) and every
// answer is capped in size; no tool reads or writes a file of the
// caller's choosing (import takes JSON content, export returns it).
//
// It links localapi and the SDK only: no SQLite, client-go or gRPC
// (TestDeps holds that). docs/mcp.md lists the tools.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/localapi"
)

// Options configure a server.
type Options struct {
	// Connect returns a client of the daemon for one call. Over stdio it
	// starts the daemon when none runs (localapi.Ensure); in the daemon it
	// is the daemon's own socket.
	Connect func(ctx context.Context) (*localapi.Client, error)
	// Kube is the kubeconfig the client means for tools and configs that
	// name none: `kftray mcp` sends its own environment's, as `kftray
	// start` does (the daemon's environment is that of whoever started
	// it). Nil: the daemon's own.
	Kube func() *localapi.KubeEnv
	// Version is kftray's version, told to clients.
	Version string
	// Log gets one debug line per tool call; warnings for failures of
	// the server itself. Never stdout: over stdio that is the protocol.
	Log zerolog.Logger
}

// maxAnswer caps a tool's or resource's answer: an assistant's context is
// small, and a bigger answer is a question asked too broadly.
const maxAnswer = 1 << 20

const instructions = `kftray manages Kubernetes port forwards for this user: a per-user daemon keeps them running, reconnecting across pod restarts.
A config says what to forward (a Service port, pods by label selector, or a host reached through a relay pod) and where to listen locally.
To forward something new: find it with list_kube_contexts, list_namespaces, list_services (with ports) or list_pods; create_config; start_port_forward (wait_seconds waits until it is connected to a pod).
get_port_forward and list_active_port_forwards show each forward's status, local address (connect there), pod and counters.
Low local ports, own loopback addresses and hostnames need the root helper: helper_status says whether it is installed and the command a person must run to install it; never run it yourself.
Tools that change things say so in their annotations; deleting configs and cleaning relays cannot be undone.`

// server is one MCP server over one daemon.
type server struct {
	opts Options
	mcp  *mcp.Server
}

// New returns the MCP server with every tool and resource.
func New(opts Options) *mcp.Server {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := &server{opts: opts, mcp: mcp.NewServer(&mcp.Implementation{Name: "kftray", Title: "kftray port forwards", Version: opts.Version},
		&mcp.ServerOptions{Instructions: instructions})}
	s.clusterTools()
	s.forwardTools()
	s.configTools()
	s.adminTools()
	s.resources()
	return s.mcp
}

// ServeStdio serves one client on in and out (the process's stdin and
// stdout: newline-delimited JSON-RPC) until it disconnects or ctx ends.
func ServeStdio(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	err := New(opts).Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(in), Writer: nopWriteCloser{out}})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// HTTPHandler serves Streamable HTTP. It is stateless (no MCP sessions to
// lose): a client keeps working across daemon restarts. The caller guards
// it (token, Host, Origin); the SDK's own DNS-rebinding check stays on.
func HTTPHandler(opts Options) http.Handler {
	s := New(opts)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: true})
}

// handler is a tool's work with a client of the daemon.
type handler[In, Out any] func(ctx context.Context, c *localapi.Client, in In) (Out, error)

// add registers a tool whose schemas come from In and Out (with the
// hand-written config schemas), connecting to the daemon for each call,
// wording errors for the assistant and capping the answer.
func add[In, Out any](s *server, t *mcp.Tool, h handler[In, Out]) {
	in, err := schemaFor[In]()
	if err != nil {
		panic(fmt.Sprintf("tool %s: input schema: %v", t.Name, err))
	}
	out, err := schemaFor[Out]()
	if err != nil {
		panic(fmt.Sprintf("tool %s: output schema: %v", t.Name, err))
	}
	t.InputSchema, t.OutputSchema = in, out
	mcp.AddTool(s.mcp, t, func(ctx context.Context, _ *mcp.CallToolRequest, args In) (*mcp.CallToolResult, Out, error) {
		var zero Out
		start := time.Now()
		o, err := call(ctx, s, func(c *localapi.Client) (Out, error) { return h(ctx, c, args) })
		if err == nil {
			if b, merr := json.Marshal(o); merr == nil && len(b) > maxAnswer {
				err = fmt.Errorf("the answer is %d KiB, more than this server sends at once (%d KiB); ask for less: a smaller limit or a narrower query", len(b)>>10, maxAnswer>>10)
			}
		}
		s.opts.Log.Debug().Str("tool", t.Name).Dur("took", time.Since(start)).AnErr("error", err).Msg("mcp tool call")
		if err != nil {
			return nil, zero, explain(err)
		}
		return nil, o, nil
	})
}

// call runs f with a client of the daemon.
func call[T any](ctx context.Context, s *server, f func(*localapi.Client) (T, error)) (T, error) {
	var zero T
	c, err := s.opts.Connect(ctx)
	if err != nil {
		return zero, err
	}
	return f(c)
}

// readOnly annotates a tool that changes nothing. openWorld: it reaches a
// cluster.
func readOnly(title string, openWorld bool) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, ReadOnlyHint: true, OpenWorldHint: &openWorld}
}

// changes annotates a tool that changes something: destructive when it
// removes or overwrites (deleting, stopping, overwriting a config),
// idempotent when calling it again with the same arguments changes
// nothing more.
func changes(title string, destructive, idempotent, openWorld bool) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, DestructiveHint: &destructive, IdempotentHint: idempotent, OpenWorldHint: &openWorld}
}
