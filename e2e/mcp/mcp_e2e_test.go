//go:build e2e

// Package mcp_test drives kftray's MCP server with the official SDK's
// client on the dev cluster (e2e/cluster): `kftray mcp` over stdio (the
// built binary, its daemon started on demand) and the daemon's Streamable
// HTTP endpoint, each through a whole forward's life; and the HTTP
// endpoint's refusals. Run with
//
//	KFTRAY_DEVCLUSTER_BIN=... go test -tags e2e ./e2e/mcp/
package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

// stdioSession runs `kftray mcp` with its own config directory and
// connects the SDK's client to it.
func stdioSession(t *testing.T, dir, kubeconfig string) (*mcp.ClientSession, *kftraytest.SyncBuffer) {
	t.Helper()
	cmd := exec.Command(kftraytest.Build(t), "mcp")
	cmd.Env = []string{"KFTRAY_CONFIG=" + dir, "HOME=" + dir, "PATH=/usr/bin:/bin", "KUBECONFIG=" + kubeconfig}
	stderr := &kftraytest.SyncBuffer{}
	cmd.Stderr = stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).
		Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connecting to kftray mcp: %v\nstderr:\n%s", err, stderr)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, stderr
}

// call calls a tool, fails the test on an error result, and decodes the
// structured answer into out.
func call(t *testing.T, cs *mcp.ClientSession, name string, args, out any) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		var msg string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				msg += tc.Text
			}
		}
		t.Fatalf("%s(%v): %s", name, args, msg)
	}
	if out != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: decoding %s: %v", name, b, err)
		}
	}
}

// checkTools lists the tools and checks the ones a forward's life uses:
// present, described, annotated as reading or changing.
func checkTools(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	tools := map[string]*mcp.Tool{}
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		tools[tool.Name] = tool
	}
	if len(tools) < 23 {
		t.Errorf("%d tools; want at least kftray's 16 and ours", len(tools))
	}
	for name, ro := range map[string]bool{"list_services": true, "create_config": false, "start_port_forward": false,
		"get_port_forward": true, "stop_port_forward": false, "delete_config": false} {
		tool := tools[name]
		if tool == nil {
			t.Fatalf("no tool %s", name)
		}
		a := tool.Annotations
		if a == nil || a.ReadOnlyHint != ro || (!ro && a.DestructiveHint == nil) {
			t.Errorf("%s annotations: %+v", name, a)
		}
		in, _ := tool.InputSchema.(map[string]any)
		props, _ := in["properties"].(map[string]any)
		for p, s := range props {
			if d, _ := s.(map[string]any)["description"].(string); d == "" {
				t.Errorf("%s.%s has no description", name, p)
			}
		}
	}
	if d := *tools["delete_config"].Annotations.DestructiveHint; !d {
		t.Error("delete_config is not marked destructive")
	}
	if d := *tools["create_config"].Annotations.DestructiveHint; d {
		t.Error("create_config is marked destructive")
	}
}

// forwardLife: find the Service and its port, create a config, start it
// until it runs on one of pods, fetch through it with net/http, see its
// counters, stop it.
func forwardLife(t *testing.T, cs *mcp.ClientSession, c *cluster.Cluster, ns, alias string, pods []string) {
	t.Helper()
	cl := map[string]any{"kubeconfig": c.Kubeconfig, "context": c.Context}
	with := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range cl {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	var svcs struct{ Services []localapi.Service }
	call(t, cs, "list_services", with(map[string]any{"namespace": ns}), &svcs)
	if len(svcs.Services) != 1 || svcs.Services[0].Name != "web" || svcs.Services[0].Ports[0].Port != 80 {
		t.Fatalf("list_services: %+v; want web with port 80", svcs)
	}
	var ports struct{ Ports []struct{ Port int } }
	call(t, cs, "list_ports", with(map[string]any{"namespace": ns, "service": "web"}), &ports)
	if len(ports.Ports) != 1 || ports.Ports[0].Port != 80 {
		t.Fatalf("list_ports: %+v", ports)
	}
	var pl struct{ Pods []localapi.Pod }
	call(t, cs, "list_pods", with(map[string]any{"namespace": ns, "label_selector": "app=web"}), &pl)
	if len(pl.Pods) != len(pods) {
		t.Fatalf("list_pods: %+v; want %v", pl, pods)
	}

	var created struct{ ID int64 }
	call(t, cs, "create_config", map[string]any{"config": with(map[string]any{"alias": alias, "namespace": ns,
		"workload_type": "service", "service": "web", "remote_port": 80})}, &created)

	var started struct {
		Results []struct {
			Error   string
			Forward struct{ Status, Address, Pod string }
		}
	}
	call(t, cs, "start_port_forward", map[string]any{"refs": []string{alias}, "wait_seconds": 60}, &started)
	r := started.Results[0]
	if r.Error != "" || r.Forward.Status != localapi.StatusRunning || !slices.Contains(pods, r.Forward.Pod) {
		t.Fatalf("start_port_forward %s: %+v; want running on one of %v", alias, started, pods)
	}
	var f localapi.Forward
	call(t, cs, "get_port_forward", map[string]any{"ref": alias}, &f)
	if f.Status != localapi.StatusRunning || f.Pod != r.Forward.Pod || f.Address != r.Forward.Address || f.Config.Service != "web" {
		t.Fatalf("get_port_forward: %+v", f)
	}

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + f.Address + "/")
	if err != nil {
		t.Fatalf("GET through %s: %v", f.Address, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := strings.TrimSpace(string(body)); resp.StatusCode != 200 || got != f.Pod {
		t.Fatalf("through the forward: %d %q; want the pod's name %s", resp.StatusCode, got, f.Pod)
	}

	kftraytest.Poll(t, "list_active_port_forwards to count the request", func() (bool, string) {
		var active struct{ Forwards []activeRow }
		call(t, cs, "list_active_port_forwards", nil, &active)
		i := slices.IndexFunc(active.Forwards, func(x activeRow) bool { return x.Name == alias })
		return i >= 0 && active.Forwards[i].TotalConns >= 1 && active.Forwards[i].BytesFromPod > 0 && active.Forwards[i].Pod == f.Pod, fmt.Sprintf("%+v", active)
	})

	var stopped struct {
		Results []struct {
			Error   string
			Forward struct{ Status string }
		}
	}
	call(t, cs, "stop_port_forward", map[string]any{"refs": []string{alias}}, &stopped)
	if s := stopped.Results[0]; s.Error != "" || s.Forward.Status != localapi.StatusStopped {
		t.Fatalf("stop_port_forward: %+v", stopped)
	}
	if conn, err := net.DialTimeout("tcp", f.Address, 2*time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts after stop", f.Address)
	}
}

type activeRow struct {
	Name         string
	Pod          string
	TotalConns   int64 `json:"total_conns"`
	BytesFromPod int64 `json:"bytes_from_pod"`
}

// TestMCPOnTheDevCluster: the SDK's client against `kftray mcp` (stdio;
// the daemon started on demand) and against the daemon's HTTP endpoint
// (turned on by its setting): tools and their schemas, then a forward's
// whole life through each; the endpoint refuses a request without the
// token, from a foreign Origin and with a rebinding Host.
func TestMCPOnTheDevCluster(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	if err := c.Deploy(ctx, ns, cluster.App{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := kftraytest.ConfigDir(t, "kfm")

	t.Run("stdio", func(t *testing.T) {
		// The first kftray mcp has no kubeconfig (KUBECONFIG empty, no
		// ~/.kube/config) and starts the daemon, which inherits that.
		first, _ := stdioSession(t, dir, "")
		var st localapi.Status
		call(t, first, "daemon_status", nil, &st)
		if st.ConfigDir != dir || st.PID == 0 {
			t.Fatalf("daemon_status: %+v; want the daemon of %s, started on demand", st, dir)
		}
		res, err := first.CallTool(ctx, &mcp.CallToolParams{Name: "list_namespaces", Arguments: map[string]any{}})
		if err != nil || !res.IsError {
			t.Fatalf("list_namespaces with no kubeconfig anywhere: %+v %v; want an error", res, err)
		}

		// The next one's environment names the cluster: tools that name
		// no kubeconfig use it, not the daemon's.
		cs, stderr := stdioSession(t, dir, c.Kubeconfig)
		checkTools(t, cs)
		var nss struct{ Namespaces []localapi.Namespace }
		call(t, cs, "list_namespaces", map[string]any{"limit": 200}, &nss)
		if !slices.ContainsFunc(nss.Namespaces, func(n localapi.Namespace) bool { return n.Name == ns }) {
			t.Fatalf("list_namespaces with the client's KUBECONFIG: %+v; want %s", nss, ns)
		}
		forwardLife(t, cs, c, ns, "web-stdio", pods)
		if s := stderr.String(); strings.TrimSpace(s) != "" {
			t.Logf("kftray mcp stderr (quiet by default; only warnings):\n%s", s)
		}
	})

	t.Run("http", func(t *testing.T) {
		api := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
		defer api.Close()
		if err := api.SetSetting(ctx, fwdconfig.SettingMCPServerEnabled, "true"); err != nil {
			t.Fatal(err)
		}
		url, token, err := localapi.PathsIn(dir).ReadMCP()
		if err != nil {
			t.Fatal(err)
		}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatalf("connecting to %s: %v", url, err)
		}
		defer cs.Close()
		checkTools(t, cs)
		forwardLife(t, cs, c, ns, "web-http", pods)

		addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), localapi.MCPPath)
		_, port, _ := net.SplitHostPort(addr)
		initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`
		for _, tc := range []struct {
			name, token, origin, host string
			want                      int
		}{
			{name: "no token", want: http.StatusUnauthorized},
			{name: "wrong token", token: "0000", want: http.StatusUnauthorized},
			{name: "foreign origin", token: token, origin: "https://evil.example", want: http.StatusForbidden},
			{name: "loopback origin on another port", token: token, origin: "http://127.0.0.1:1", want: http.StatusForbidden},
			{name: "rebinding host", token: token, host: "evil.example:" + port, want: http.StatusForbidden},
			{name: "token, own origin", token: token, origin: "http://127.0.0.1:" + port, want: http.StatusOK},
			{name: "token, no origin", token: token, want: http.StatusOK},
		} {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(initialize))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s: %d %s; want %d", tc.name, resp.StatusCode, body, tc.want)
			}
			for k := range resp.Header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("%s: CORS header %s", tc.name, k)
				}
			}
		}
	})
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
