package mcpserver_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// What one tool call costs on top of the API: the SDK's client and server
// (JSON-RPC, schema validation of arguments and answer) and the daemon
// round trip, in memory (as stdio carries it) and over the daemon's HTTP
// endpoint (token, Host, Origin checks, a stateless request).
//
//	go test -run '^$' -bench ToolCall -benchtime 200x ./ui/mcpserver/
func BenchmarkToolCall(b *testing.B) {
	w := startWorld(b)
	ctx := context.Background()
	if err := w.client.SetSetting(ctx, fwdconfig.SettingMCPServerEnabled, "true"); err != nil {
		b.Fatal(err)
	}
	url, token, err := localapi.PathsIn(w.dir).ReadMCP()
	if err != nil {
		b.Fatal(err)
	}
	overHTTP, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer overHTTP.Close()
	for _, tc := range []struct {
		name string
		cs   *mcp.ClientSession
	}{{"memory", w.session(b)}, {"http", overHTTP}} {
		b.Run(tc.name+"/daemon_status", func(b *testing.B) {
			for b.Loop() {
				res, err := tc.cs.CallTool(ctx, &mcp.CallToolParams{Name: "daemon_status", Arguments: map[string]any{}})
				if err != nil || res.IsError {
					b.Fatal(err, res)
				}
			}
		})
	}
	b.Run("api_only/status", func(b *testing.B) {
		for b.Loop() {
			if _, err := w.client.Status(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
