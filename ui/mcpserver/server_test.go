package mcpserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/ui/mcpserver"
)

// The tools, and whether each only reads. kftray's own 16 come first,
// with kftray's names and meaning.
var wantTools = map[string]bool{
	"list_kube_contexts": true, "list_namespaces": true, "list_services": true, "list_pods": true, "list_ports": true,
	"list_active_port_forwards": true, "start_port_forward": false, "stop_port_forward": false, "stop_all_port_forwards": false,
	"list_configs": true, "get_config": true, "create_config": false, "update_config": false, "delete_config": false,
	"export_configs": true, "import_configs": false,

	"get_port_forward": true, "restart_port_forward": false, "validate_config": true,
	"list_relays": true, "clean_relays": false, "helper_status": true, "daemon_status": true,
}

// destructive tools: they remove or overwrite something, or drop
// connections.
var wantDestructive = []string{"stop_port_forward", "stop_all_port_forwards", "restart_port_forward", "update_config",
	"delete_config", "import_configs", "clean_relays"}

// TestToolsSchemasAndAnnotations: every tool is listed with a
// description, an input schema whose every property says what it is
// (nested config fields included), an output schema, and annotations
// saying whether it reads or changes, and how.
func TestToolsSchemasAndAnnotations(t *testing.T) {
	cs := startWorld(t).session(t)
	got := map[string]*mcp.Tool{}
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		got[tool.Name] = tool
	}
	for name := range wantTools {
		if got[name] == nil {
			t.Errorf("tool %s is missing", name)
		}
	}
	for name, tool := range got {
		ro, known := wantTools[name]
		if !known {
			t.Errorf("tool %s is not in this test's list (and docs/mcp.md?)", name)
			continue
		}
		if tool.Description == "" || tool.OutputSchema == nil {
			t.Errorf("%s: description %q, output schema %v", name, tool.Description, tool.OutputSchema)
		}
		a := tool.Annotations
		if a == nil || a.Title == "" {
			t.Errorf("%s: annotations %+v; want a title and hints", name, a)
			continue
		}
		if a.ReadOnlyHint != ro {
			t.Errorf("%s: readOnlyHint %v, want %v", name, a.ReadOnlyHint, ro)
		}
		if !ro {
			if a.DestructiveHint == nil {
				t.Errorf("%s changes things but has no destructiveHint", name)
			} else if *a.DestructiveHint != slices.Contains(wantDestructive, name) {
				t.Errorf("%s: destructiveHint %v", name, *a.DestructiveHint)
			}
		}
		if a.OpenWorldHint == nil {
			t.Errorf("%s: no openWorldHint", name)
		}
		in, _ := tool.InputSchema.(map[string]any)
		if in["type"] != "object" {
			t.Errorf("%s: input schema %v", name, tool.InputSchema)
		}
		for _, p := range undescribed(in, "") {
			t.Errorf("%s: input property %s has no description", name, p)
		}
	}

	// What an assistant needs to fill in a config is in the schema.
	in := got["create_config"].InputSchema.(map[string]any)
	cfg := in["properties"].(map[string]any)["config"].(map[string]any)
	props := cfg["properties"].(map[string]any)
	for _, f := range []string{"namespace", "workload_type", "service", "remote_port", "local_port", "alias", "context", "kubeconfig"} {
		if props[f] == nil {
			t.Errorf("create_config: config.%s is not in the schema", f)
		}
	}
	if wt := props["workload_type"].(map[string]any)["enum"]; len(wt.([]any)) != 4 {
		t.Errorf("workload_type enum: %v", wt)
	}
	if req := in["required"]; !slices.Contains(asStrings(req), "config") {
		t.Errorf("create_config requires %v; want config", req)
	}
	if req := got["list_services"].InputSchema.(map[string]any)["required"]; !slices.Contains(asStrings(req), "namespace") {
		t.Errorf("list_services requires %v; want namespace", req)
	}
}

func asStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// undescribed lists the properties of schema s (recursively) that have
// no description.
func undescribed(s map[string]any, at string) []string {
	var out []string
	props, _ := s["properties"].(map[string]any)
	for name, p := range props {
		ps, _ := p.(map[string]any)
		if d, _ := ps["description"].(string); d == "" {
			out = append(out, at+name)
		}
		out = append(out, undescribed(ps, at+name+".")...)
		if items, ok := ps["items"].(map[string]any); ok {
			out = append(out, undescribed(items, at+name+"[].")...)
		}
	}
	return out
}

// TestConfigAndForwardTools: a refused config lists every problem field
// by field; a config is created, read, changed (a stale revision is
// refused), started until it runs on its pod, used, seen in the lists and
// resources with its counters, stopped, exported, deleted and imported
// back.
func TestConfigAndForwardTools(t *testing.T) {
	w := startWorld(t)
	cs := w.session(t)

	msg := callErr(t, cs, "create_config", map[string]any{"config": map[string]any{"alias": "web", "workload_type": "service", "localPort": 1}})
	for _, want := range []string{`invalid config "web"`, "namespace: required", `localPort: unknown field; did you mean "local_port"?`, "service: required", "remote_port: required", "fix the fields"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refused config: %q lacks %q", msg, want)
		}
	}

	var created struct {
		ID   int64
		Name string
	}
	call(t, cs, "create_config", map[string]any{"config": map[string]any{"alias": "web", "namespace": "default", "workload_type": "service",
		"service": "web", "remote_port": 80}}, &created)
	if created.ID == 0 || created.Name != "web" {
		t.Fatalf("created %+v", created)
	}
	msg = callErr(t, cs, "create_config", map[string]any{"config": map[string]any{"alias": "WEB", "namespace": "default", "workload_type": "service",
		"service": "web", "remote_port": 80}})
	if !strings.Contains(msg, "alias") {
		t.Errorf("an alias clash: %q; want the alias named", msg)
	}

	var got struct {
		Config   map[string]any
		Revision int64
	}
	call(t, cs, "get_config", map[string]any{"ref": "web"}, &got)
	if got.Config["service"] != "web" || got.Revision == 0 {
		t.Fatalf("get_config: %+v", got)
	}
	var upd struct {
		Config   map[string]any
		Revision int64
		Forward  struct{ Status string }
	}
	call(t, cs, "update_config", map[string]any{"ref": "web", "revision": got.Revision, "changes": map[string]any{"local_port": freePort(t)}}, &upd)
	if upd.Revision == got.Revision || upd.Config["local_port"] == nil || upd.Forward.Status != localapi.StatusStopped {
		t.Fatalf("update_config: %+v", upd)
	}
	msg = callErr(t, cs, "update_config", map[string]any{"ref": "web", "revision": got.Revision, "changes": map[string]any{"local_port": 1}})
	if !strings.Contains(msg, "changed since you read it") || !strings.Contains(msg, "get_config") {
		t.Errorf("stale revision: %q", msg)
	}
	// null clears a field: the port is picked at start again.
	call(t, cs, "update_config", map[string]any{"ref": "web", "changes": map[string]any{"local_port": nil}}, &upd)
	if upd.Config["local_port"] != nil {
		t.Fatalf("local_port after clearing: %v", upd.Config["local_port"])
	}
	msg = callErr(t, cs, "update_config", map[string]any{"ref": "web", "changes": map[string]any{"remote_port": 70000}})
	if !strings.Contains(msg, "remote_port") || !strings.Contains(msg, "65535") {
		t.Errorf("bad change: %q", msg)
	}

	var started struct {
		Results []struct {
			Ref     string
			Error   string
			Forward struct {
				ID                   int64
				Status, Address, Pod string
			}
		}
		Failed int
	}
	call(t, cs, "start_port_forward", map[string]any{"refs": []string{"web", "nope"}, "wait_seconds": 30}, &started)
	if len(started.Results) != 2 || started.Failed != 1 {
		t.Fatalf("start: %+v", started)
	}
	web, nope := started.Results[0], started.Results[1]
	if web.Ref != "web" {
		web, nope = nope, web
	}
	f := web.Forward
	if f.Status != localapi.StatusRunning || f.Pod != "web-1" || f.Address == "" {
		t.Fatalf("started web: %+v; want running on web-1", web)
	}
	if !strings.Contains(nope.Error, `no config named "nope"`) {
		t.Errorf("start nope: %+v", nope)
	}
	if got := dial(t, f.Address); got != "web-1" {
		t.Fatalf("through the forward: %q, want web-1", got)
	}

	var active struct {
		Forwards []struct {
			Name, Status, Pod, Target string
			TotalConns                int64 `json:"total_conns"`
			BytesFromPod              int64 `json:"bytes_from_pod"`
		}
		Total int
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		call(t, cs, "list_active_port_forwards", map[string]any{}, &active)
		if len(active.Forwards) == 1 && active.Forwards[0].TotalConns > 0 && active.Forwards[0].BytesFromPod > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list_active_port_forwards: %+v; want web with its connection counted", active)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := active.Forwards[0]; a.Pod != "web-1" || a.Target != "service default/web port 80" {
		t.Errorf("active: %+v", a)
	}

	// Resources: the forward's state by alias, the config list.
	rr, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "kftray://forwards/web"})
	if err != nil {
		t.Fatal(err)
	}
	var fr localapi.Forward
	if err := json.Unmarshal([]byte(rr.Contents[0].Text), &fr); err != nil || fr.Status != localapi.StatusRunning || fr.Pod != "web-1" {
		t.Fatalf("kftray://forwards/web: %s %v", rr.Contents[0].Text, err)
	}
	if _, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "kftray://forwards/nope"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("an unknown forward's resource: %v", err)
	}
	rr, err = cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "kftray://configs"})
	if err != nil || !strings.Contains(rr.Contents[0].Text, `"service": "web"`) {
		t.Fatalf("kftray://configs: %v %v", rr, err)
	}
	rl, err := cs.ListResources(context.Background(), nil)
	if err != nil || len(rl.Resources) != 2 || rl.Resources[0].URI != "kftray://configs" || rl.Resources[1].URI != "kftray://forwards" {
		t.Fatalf("resources: %+v %v", rl, err)
	}
	tmpl, err := cs.ListResourceTemplates(context.Background(), nil)
	if err != nil || len(tmpl.ResourceTemplates) != 1 || tmpl.ResourceTemplates[0].URITemplate != "kftray://forwards/{ref}" {
		t.Fatalf("templates: %+v %v", tmpl, err)
	}

	var stopped struct {
		Results []struct {
			Error   string
			Forward struct{ Status string }
		}
	}
	call(t, cs, "stop_port_forward", map[string]any{"refs": []string{"web"}}, &stopped)
	if len(stopped.Results) != 1 || stopped.Results[0].Forward.Status != localapi.StatusStopped {
		t.Fatalf("stop: %+v", stopped)
	}
	if _, err := net.Dial("tcp", f.Address); err == nil {
		t.Errorf("%s still accepts after stop", f.Address)
	}

	var exp struct {
		Configs []map[string]any
		Count   int
	}
	call(t, cs, "export_configs", nil, &exp)
	if exp.Count != 1 || exp.Configs[0]["alias"] != "web" {
		t.Fatalf("export: %+v", exp)
	}
	var del struct{ Deleted int64 }
	call(t, cs, "delete_config", map[string]any{"ref": "web"}, &del)
	if del.Deleted != created.ID {
		t.Fatalf("delete: %+v", del)
	}
	if msg := callErr(t, cs, "get_config", map[string]any{"ref": "web"}); !strings.Contains(msg, "list_configs") {
		t.Errorf("a deleted config: %q", msg)
	}
	var imp fwdconfig.ImportResult
	call(t, cs, "import_configs", map[string]any{"configs": exp.Configs}, &imp)
	if len(imp.Added) != 1 {
		t.Fatalf("import: %+v", imp)
	}
	call(t, cs, "import_configs", map[string]any{"configs": exp.Configs}, &imp)
	if len(imp.Added) != 0 || len(imp.Unchanged) != 1 {
		t.Fatalf("import again: %+v; want unchanged", imp)
	}
	msg = callErr(t, cs, "import_configs", map[string]any{"configs": []any{map[string]any{"namespace": "x"}}})
	if !strings.Contains(msg, "workload_type") {
		t.Errorf("a bad import: %q", msg)
	}

	// start_port_forward with a config creates it first.
	call(t, cs, "start_port_forward", map[string]any{"config": map[string]any{"alias": "web2", "namespace": "default", "workload_type": "pod",
		"target": "app=web", "remote_port": 8080}, "wait_seconds": 30}, &started)
	if r := started.Results[0]; r.Error != "" || r.Forward.Status != localapi.StatusRunning || r.Forward.Pod != "web-1" {
		t.Fatalf("start a new config: %+v", started)
	}
	if got := dial(t, started.Results[0].Forward.Address); got != "web-1" {
		t.Fatalf("through web2: %q", got)
	}
	call(t, cs, "stop_all_port_forwards", nil, &stopped)
	if len(stopped.Results) != 2 {
		t.Fatalf("stop all: %+v", stopped)
	}
}

// TestClusterTools: contexts of a kubeconfig; namespaces, Services with
// ports, pods and ports from the cluster; missing arguments say what to
// give.
func TestClusterTools(t *testing.T) {
	cs := startWorld(t).session(t)
	var ctxs struct {
		Contexts []localapi.KubeContext
		Total    int
	}
	call(t, cs, "list_kube_contexts", map[string]any{"kubeconfig": writeKubeconfig(t)}, &ctxs)
	if ctxs.Total != 2 || ctxs.Contexts[0].Name != "dev" || !ctxs.Contexts[0].Current || ctxs.Contexts[0].Namespace != "team" {
		t.Fatalf("contexts: %+v", ctxs)
	}
	var nss struct{ Namespaces []localapi.Namespace }
	call(t, cs, "list_namespaces", map[string]any{}, &nss)
	if len(nss.Namespaces) != 2 {
		t.Fatalf("namespaces: %+v", nss)
	}
	var svcs struct{ Services []localapi.Service }
	call(t, cs, "list_services", map[string]any{"namespace": "default"}, &svcs)
	if len(svcs.Services) != 1 || svcs.Services[0].Ports[0].Port != 80 || svcs.Services[0].Ports[0].TargetPort != "8080" {
		t.Fatalf("services: %+v", svcs)
	}
	call(t, cs, "list_services", map[string]any{"namespace": "default", "name_contains": "db"}, &svcs)
	if len(svcs.Services) != 0 {
		t.Fatalf("services named like db: %+v", svcs)
	}
	var pods struct{ Pods []localapi.Pod }
	call(t, cs, "list_pods", map[string]any{"namespace": "default", "label_selector": "app=web"}, &pods)
	if len(pods.Pods) != 1 || !pods.Pods[0].Ready || pods.Pods[0].Ports[0].Port != 8080 {
		t.Fatalf("pods: %+v", pods)
	}
	var ports struct {
		Of    string
		Ports []struct {
			Name       string
			Port       int
			TargetPort string `json:"target_port"`
		}
	}
	call(t, cs, "list_ports", map[string]any{"namespace": "default", "service": "web"}, &ports)
	if len(ports.Ports) != 1 || ports.Ports[0].Port != 80 || ports.Ports[0].TargetPort != "8080" || ports.Ports[0].Name != "http" {
		t.Fatalf("ports of web: %+v", ports)
	}
	call(t, cs, "list_ports", map[string]any{"namespace": "default", "label_selector": "app=web"}, &ports)
	if len(ports.Ports) != 1 || ports.Ports[0].Port != 8080 {
		t.Fatalf("ports of app=web: %+v", ports)
	}
	for _, tc := range []struct {
		tool string
		args map[string]any
		says string
	}{
		{"list_services", map[string]any{"namespace": " "}, "namespace is required"},
		{"list_services", map[string]any{}, "namespace"},
		{"list_ports", map[string]any{"namespace": "default"}, "give service"},
		{"list_ports", map[string]any{"namespace": "default", "service": "db"}, `no Service "db"`},
		{"list_ports", map[string]any{"namespace": "default", "label_selector": "app=db"}, "no pod"},
		{"list_kube_contexts", map[string]any{"kubeconfig": "/nonexistent/kubeconfig"}, "/nonexistent/kubeconfig"},
		{"list_services", map[string]any{"namespace": "default", "colour": "red"}, "colour"},
	} {
		if msg := callErr(t, cs, tc.tool, tc.args); !strings.Contains(msg, tc.says) {
			t.Errorf("%s %v: %q; want it to say %q", tc.tool, tc.args, msg, tc.says)
		}
	}
}

// TestClientKubeconfig: with the client's kubeconfig (what `kftray mcp`
// sends from its environment), tools that name none use it, and a started
// forward records it.
func TestClientKubeconfig(t *testing.T) {
	w := startWorld(t)
	kc := writeKubeconfig(t)
	cs := w.sessionWith(t, mcpserver.Options{Kube: func() *localapi.KubeEnv { return &localapi.KubeEnv{Kubeconfig: kc, Context: "dev"} }})
	var ctxs struct{ Contexts []localapi.KubeContext }
	call(t, cs, "list_kube_contexts", map[string]any{}, &ctxs)
	if len(ctxs.Contexts) != 2 || ctxs.Contexts[1].Name != "prod" {
		t.Fatalf("contexts of the client's kubeconfig: %+v", ctxs)
	}
	call(t, cs, "create_config", map[string]any{"config": map[string]any{"alias": "web", "namespace": "default",
		"workload_type": "service", "service": "web", "remote_port": 80}}, nil)
	call(t, cs, "start_port_forward", map[string]any{"refs": []string{"web"}}, nil)
	var f localapi.Forward
	call(t, cs, "get_port_forward", map[string]any{"ref": "web"}, &f)
	if f.Kube == nil || f.Kube.Kubeconfig != kc || f.Kube.Context != "dev" {
		t.Fatalf("the forward's kube: %+v; want the client's %s (dev)", f.Kube, kc)
	}
}

// TestListsArePaged: limit and cursor walk a list; a bad cursor or limit
// says what to pass.
func TestListsArePaged(t *testing.T) {
	w := startWorld(t)
	cs := w.session(t)
	var cfgs []any
	for i := range 5 {
		cfgs = append(cfgs, map[string]any{"alias": "web" + strconv.Itoa(i), "namespace": "default", "workload_type": "service", "service": "web", "remote_port": 80, "local_port": 20000 + i})
	}
	call(t, cs, "import_configs", map[string]any{"configs": cfgs}, nil)
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		var out struct {
			Configs    []struct{ Name string }
			Total      int
			NextCursor string `json:"next_cursor"`
		}
		args := map[string]any{"limit": 2}
		if cursor != "" {
			args["cursor"] = cursor
		}
		call(t, cs, "list_configs", args, &out)
		if out.Total != 5 || len(out.Configs) > 2 {
			t.Fatalf("page %d: %+v", pages, out)
		}
		for _, c := range out.Configs {
			seen = append(seen, c.Name)
		}
		if cursor = out.NextCursor; cursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(seen, ",") != "web0,web1,web2,web3,web4" {
		t.Fatalf("paged through %v", seen)
	}
	if msg := callErr(t, cs, "list_configs", map[string]any{"cursor": "x"}); !strings.Contains(msg, "next_cursor") {
		t.Errorf("bad cursor: %q", msg)
	}
	if msg := callErr(t, cs, "list_configs", map[string]any{"limit": 1000}); !strings.Contains(msg, "1..200") {
		t.Errorf("limit 1000: %q", msg)
	}
}

// TestHTTPTransportInProcess: the daemon's MCP endpoint, turned on through
// the settings, serves the SDK's Streamable HTTP client that presents the
// token, and refuses one that does not.
func TestHTTPTransportInProcess(t *testing.T) {
	w := startWorld(t)
	ctx := context.Background()
	if err := w.client.SetSetting(ctx, fwdconfig.SettingMCPServerEnabled, "true"); err != nil {
		t.Fatal(err)
	}
	url, token, err := localapi.PathsIn(w.dir).ReadMCP()
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url,
		HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var st localapi.Status
	call(t, cs, "daemon_status", nil, &st)
	if st.MCPAddr == "" || !strings.HasSuffix(url, st.MCPAddr+localapi.MCPPath) {
		t.Fatalf("daemon_status over HTTP: %+v (endpoint %s)", st, url)
	}
	if _, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("without the token: %v; want 401", err)
	}
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// dial connects to a forward and reads the backend's first line (its pod
// name).
func dial(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading from %s: %v", addr, err)
	}
	return strings.TrimSpace(line)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
