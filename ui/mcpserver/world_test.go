package mcpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/forwarder/daemon/daemontest"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/ui/mcpserver"
)

// A real daemon in this process over daemontest's in-process cluster
// (Service "web" in namespace "default", port 80 named http, to pod web-1's
// 8080).
type world struct {
	dir    string
	client *localapi.Client
}

func startWorld(t testing.TB) *world {
	t.Helper()
	c, st := daemontest.Run(t, fwdaemon.Options{Engine: daemontest.NewWorld(t).Engine(),
		MCPHandler: func(c *localapi.Client) http.Handler {
			return mcpserver.HTTPHandler(mcpserver.Options{Connect: fixed(c)})
		}})
	return &world{dir: st.ConfigDir, client: c}
}

func fixed(c *localapi.Client) func(context.Context) (*localapi.Client, error) {
	return func(context.Context) (*localapi.Client, error) { return c, nil }
}

// session connects the SDK's client to a server over this world's daemon
// (in memory, as stdio would carry it).
func (w *world) session(t testing.TB) *mcp.ClientSession {
	return w.sessionWith(t, mcpserver.Options{})
}

func (w *world) sessionWith(t testing.TB, opts mcpserver.Options) *mcp.ClientSession {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	opts.Connect, opts.Version = fixed(w.client), "test"
	srv := mcpserver.New(opts)
	ctx := context.Background()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Wait() })
	return cs
}

// writeKubeconfig writes a kubeconfig with contexts dev (current) and
// prod.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	data := `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: me
  user: {token: "x"}
contexts:
- name: dev
  context: {cluster: c, user: me, namespace: team}
- name: prod
  context: {cluster: c, user: me}
`
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// call calls a tool and decodes its structured answer into out; it fails
// the test on an error result.
func call(t *testing.T, cs *mcp.ClientSession, name string, args any, out any) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s(%v): error result: %s", name, args, text(res))
	}
	if out != nil {
		// A fresh value: decoding into a used one would keep old fields.
		v := reflect.ValueOf(out).Elem()
		v.Set(reflect.Zero(v.Type()))
		b, err := json.Marshal(res.StructuredContent)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: decoding %s: %v", name, b, err)
		}
	}
}

// callErr calls a tool that must fail and returns its error text.
func callErr(t *testing.T, cs *mcp.ClientSession, name string, args any) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !res.IsError {
		t.Fatalf("%s(%v) succeeded (%s); want an error", name, args, text(res))
	}
	return text(res)
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		} else {
			fmt.Fprintf(&b, "%T", c)
		}
	}
	return b.String()
}
