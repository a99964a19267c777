package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// runDaemon runs a daemon with opts (Dir, Engine and the rest filled in
// when empty) in this process until the test ends.
func runDaemon(t *testing.T, opts Options) (*localapi.Client, localapi.Status) {
	t.Helper()
	if opts.CounterPeriod == 0 {
		opts.CounterPeriod = 20 * time.Millisecond
	}
	opts.Log = zerolog.Nop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan localapi.Status, 1)
	opts.Ready = func(s localapi.Status) { ready <- s }
	go func() { done <- Run(ctx, opts) }()
	var st localapi.Status
	select {
	case st = <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not become ready within 15s")
	}
	c := localapi.NewUnixClient(st.Socket)
	t.Cleanup(func() {
		c.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("daemon did not stop within 15s")
		}
	})
	return c, st
}

// statusCode is the HTTP status of an API error, 0 for none.
func statusCode(err error) int {
	var se *localapi.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// freePort returns a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func webConfig(alias string) fwdconfig.Config {
	return fwdconfig.Config{Alias: alias, Namespace: "default", WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80,
		HTTPLogsAutoCleanup: true}
}

// TestConfigCRUDThroughTheAPI: create, read, validate and update configs;
// refused configs come back field by field with the messages `kftray
// config add` prints; an update of a running forward restarts it.
func TestConfigCRUDThroughTheAPI(t *testing.T) {
	dir := shortDir(t)
	c, _ := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine()})
	ctx := context.Background()

	id, err := c.CreateConfig(ctx, webConfig("web"))
	if err != nil || id == 0 {
		t.Fatalf("create: %d %v", id, err)
	}
	got, err := c.Config(ctx, "web")
	if err != nil || got.ID != id || got.Service != "web" || got.RemotePort != 80 || got.Revision == 0 {
		t.Fatalf("get: %+v %v; want the config with its revision", got, err)
	}

	// A bad config: every problem, field by field, as the CLI says it.
	bad := fwdconfig.Config{Alias: "123", WorkloadType: "service", Protocol: "tcp", Service: "Web_1", LocalAddress: "nowhere", HTTPLogsAutoCleanup: true}
	want := bad
	var ve *fwdconfig.ValidationError
	if !errors.As(want.Validate(), &ve) {
		t.Fatal("the bad config validates")
	}
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"create", func() error { _, err := c.CreateConfig(ctx, bad); return err }},
		{"validate", func() error { return c.ValidateConfig(ctx, bad) }},
		{"update", func() error { return c.UpdateConfig(ctx, "web", bad) }},
	} {
		err := call.do()
		fields := localapi.FieldErrors(err)
		if statusCode(err) != http.StatusBadRequest || len(fields) != len(ve.Problems) {
			t.Fatalf("%s: %v %+v; want 400 with %d field problems", call.name, err, fields, len(ve.Problems))
		}
		for i, p := range ve.Problems {
			if fields[i].Field != p.Field || fields[i].Problem != p.Msg {
				t.Errorf("%s: field problem %d is %+v, want %s: %s", call.name, i, fields[i], p.Field, p.Msg)
			}
		}
		if !strings.Contains(err.Error(), `alias: "123" is all digits`) || !strings.Contains(err.Error(), "namespace: required") {
			t.Errorf("%s: message %q does not say what is wrong", call.name, err)
		}
	}
	if fs, _ := c.Forwards(ctx); len(fs) != 1 {
		t.Fatalf("a refused create was stored: %+v", fs)
	}

	// The alias is taken: refused on create and validate, but a config may
	// keep its own.
	_, err = c.CreateConfig(ctx, webConfig("WEB"))
	if f := localapi.FieldErrors(err); len(f) != 1 || f[0].Field != "alias" || !strings.Contains(f[0].Problem, "already used by config") {
		t.Fatalf("create with a taken alias: %v %+v", err, f)
	}
	own := webConfig("web")
	own.ID = id
	if err := c.ValidateConfig(ctx, own); err != nil {
		t.Fatalf("validating config %d with its own alias: %v", id, err)
	}
	own.ID = 0
	if err := c.ValidateConfig(ctx, own); statusCode(err) != http.StatusBadRequest {
		t.Fatalf("validating a new config with a taken alias: %v; want 400", err)
	}

	// Update a running forward: it restarts on the new port.
	if _, err := c.Start(ctx, localapi.Selection{Refs: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	before := waitForward(t, c, "web", "web running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	port := freePort(t)
	edited := got
	edited.LocalPort = port
	if err := c.UpdateConfig(ctx, "web", edited); err != nil {
		t.Fatalf("update: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	after := waitForward(t, c, "web", "web running on "+addr, func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.Address == addr
	})
	if after.Config.LocalPort != port {
		t.Fatalf("forward shows %+v after the update", after.Config)
	}
	echo(t, addr, "updated")
	if _, err := net.DialTimeout("tcp", before.Address, time.Second); err == nil {
		t.Fatalf("the old address %s still accepts connections", before.Address)
	}

	// The copy read before the update is stale now: refused, not lost.
	stale := got
	stale.RemotePort = 81
	err = c.UpdateConfig(ctx, "web", stale)
	if statusCode(err) != http.StatusConflict || !strings.Contains(err.Error(), "read it again") {
		t.Fatalf("update of a stale copy: %v; want 409 saying to read it again", err)
	}
	if cur, _ := c.Config(ctx, "web"); cur.RemotePort != 80 || cur.LocalPort != port {
		t.Fatalf("after the refused update: %+v", cur)
	}
	// An id in the body that is not the path's config.
	other := webConfig("web")
	other.ID = id + 100
	if err := c.UpdateConfig(ctx, "web", other); len(localapi.FieldErrors(err)) != 1 || localapi.FieldErrors(err)[0].Field != "id" {
		t.Fatalf("update with another id: %v", err)
	}
}

// TestConfigBodiesThroughHTTP: what only a raw request can send: unknown
// and mistyped fields, an array, not JSON.
func TestConfigBodiesThroughHTTP(t *testing.T) {
	dir := shortDir(t)
	runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine(), HTTPAddr: DefaultHTTPAddr})
	addr, token, err := localapi.PathsIn(dir).ReadHTTP()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		want       []string // in the error
		field      string   // first field problem, "" for none
	}{
		{"unknown field", `{"namespace":"default","service":"web","workload_type":"service","remote_port":80,"lcoal_port":8080}`,
			[]string{"lcoal_port: unknown field; did you mean", "local_port"}, "lcoal_port"},
		{"mistyped", `{"namespace":"default","service":"web","workload_type":"service","remote_port":"eighty"}`,
			[]string{"remote_port"}, "remote_port"},
		{"array", `[{"namespace":"default"}]`, []string{"expected one config", "configs/import"}, ""},
		{"not JSON", `{"namespace":`, []string{"not valid JSON"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://"+addr+localapi.Version+"/configs", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d (%s), want 400", resp.StatusCode, b)
			}
			for _, w := range tc.want {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("answer %s does not say %q", b, w)
				}
			}
			if tc.field != "" && !bytes.Contains(b, []byte(`"field": "`+tc.field+`"`)) {
				t.Errorf("answer %s has no field problem for %s", b, tc.field)
			}
		})
	}
}

// TestRestartThroughTheAPI: restart replaces a running forward's listener
// and starts a stopped one; with all it restarts only what should run.
func TestRestartThroughTheAPI(t *testing.T) {
	dir := shortDir(t)
	st := openStore(t, dir)
	ctx := context.Background()
	for _, a := range []string{"web", "idle"} {
		cfg := webConfig(a)
		if err := st.AddConfig(ctx, &cfg); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine()})
	if _, err := c.Start(ctx, localapi.Selection{Refs: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	before := waitForward(t, c, "web", "web running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	echo(t, before.Address, "before")

	res, err := c.Restart(ctx, localapi.Selection{All: true})
	if err != nil || len(res.Results) != 1 || res.Failed() != 0 || res.Results[0].Forward == nil || res.Results[0].Forward.Name != "web" {
		t.Fatalf("restart all: %+v %v; want web alone restarted (idle should not run)", res, err)
	}
	after := waitForward(t, c, "web", "web running again", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	if after.TotalConns != 0 || !after.Since.After(before.Since) {
		t.Fatalf("after restart: %+v; want a new forward (no connections yet, a later since than %v)", after, before.Since)
	}
	echo(t, after.Address, "after")
	if f, _ := c.Forward(ctx, "idle"); f.Status != localapi.StatusStopped {
		t.Fatalf("idle after restart --all: %s; want it left stopped", f.Status)
	}

	res, err = c.Restart(ctx, localapi.Selection{Refs: []string{"idle", "nope"}})
	if err != nil || res.Failed() != 1 {
		t.Fatalf("restart idle nope: %+v %v; want idle started and nope unknown", res, err)
	}
	f := waitForward(t, c, "idle", "idle running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	if !f.Desired {
		t.Fatalf("idle restarted but not desired: %+v", f)
	}
}

// TestSettingsThroughTheAPI: known settings with defaults, validated per
// key; internal keys are not settings.
func TestSettingsThroughTheAPI(t *testing.T) {
	dir := shortDir(t)
	c, _ := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine()})
	ctx := context.Background()
	m, err := c.Settings(ctx)
	if err != nil || m[fwdconfig.SettingHTTPLogsDefaultEnabled] != "false" || len(m) != len(fwdconfig.KnownSettings()) {
		t.Fatalf("settings: %v %v; want every known setting, http_logs_default_enabled false", m, err)
	}
	if err := c.SetSetting(ctx, fwdconfig.SettingHTTPLogsDefaultEnabled, " TRUE "); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := openStore(t, dir).GetSetting(ctx, fwdconfig.SettingHTTPLogsDefaultEnabled); !ok || v != "true" {
		t.Fatalf("stored %q (%v), want true", v, ok)
	}
	if m, _ := c.Settings(ctx); m[fwdconfig.SettingHTTPLogsDefaultEnabled] != "true" {
		t.Fatalf("settings after the change: %v", m)
	}
	err = c.SetSetting(ctx, fwdconfig.SettingHTTPLogsDefaultEnabled, "sometimes")
	if statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "not true or false") {
		t.Fatalf("a bad value: %v; want 400 saying true or false", err)
	}
	for _, key := range []string{"nope", DesiredKey} {
		err = c.SetSetting(ctx, key, "1")
		if statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "the known settings are "+fwdconfig.SettingHTTPLogsDefaultEnabled) {
			t.Fatalf("setting %s: %v; want 400 listing the known keys", key, err)
		}
	}
}

// TestHelperThroughTheAPI: the probe's findings, the configs that need
// the helper, and the command to type.
func TestHelperThroughTheAPI(t *testing.T) {
	dir := shortDir(t)
	st := openStore(t, dir)
	ctx := context.Background()
	plain, named := webConfig("web"), webConfig("api.dev.test")
	named.DomainEnabled = true
	loop := webConfig("loop")
	loop.AutoLoopbackAddress = true
	for _, cfg := range []*fwdconfig.Config{&plain, &named, &loop} {
		if err := st.AddConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	probe := localapi.Helper{Installed: true, Version: "v1.0.0", Want: "v1.0.0", UpToDate: true, Allowed: false}
	c, _ := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine(),
		HelperProbe: func(context.Context) localapi.Helper { return probe }})
	h, err := c.Helper(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Installed || h.Allowed || h.Version != "v1.0.0" || !slices.Equal(h.NeededBy, []string{"api.dev.test", "loop"}) ||
		h.InstallCommand != "sudo kftray helper install" {
		t.Fatalf("helper: %+v; want installed, not allowed, needed by api.dev.test and loop, with the install command", h)
	}

	// Without a probe the daemon says it cannot tell, and offers no command.
	dir2 := shortDir(t)
	c2, _ := runDaemon(t, Options{Dir: dir2, Engine: testWorld(t).engine()})
	h, err = c2.Helper(ctx)
	if err != nil || h.Error == "" || h.InstallCommand != "" || h.NeededBy == nil {
		t.Fatalf("helper without a probe: %+v %v", h, err)
	}
}

// TestNewEndpointsAuth: the state-changing endpoints need the token on
// TCP, and a loopback Host.
func TestNewEndpointsAuth(t *testing.T) {
	dir := shortDir(t)
	c, _ := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine(), HTTPAddr: DefaultHTTPAddr})
	ctx := context.Background()
	addr, token, err := localapi.PathsIn(dir).ReadHTTP()
	if err != nil {
		t.Fatal(err)
	}
	body := `{"alias":"x","namespace":"default","service":"web","workload_type":"service","remote_port":80}`
	for _, ep := range []struct{ method, path, body string }{
		{"POST", "/configs", body},
		{"PUT", "/configs/x", body},
		{"PUT", "/settings/" + fwdconfig.SettingHTTPLogsDefaultEnabled, `{"value":"true"}`},
		{"POST", "/relays/clean", `{}`},
		{"POST", "/forwards/restart", `{"all":true}`},
	} {
		for _, tc := range []struct {
			name, token, host string
			want              int
		}{
			{"no token", "", "", http.StatusUnauthorized},
			{"wrong token", strings.Repeat("0", len(token)), "", http.StatusUnauthorized},
			{"foreign Host", token, "evil.example", http.StatusForbidden},
		} {
			req, _ := http.NewRequest(ep.method, "http://"+addr+localapi.Version+ep.path, strings.NewReader(ep.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s with %s: %d, want %d", ep.method, ep.path, tc.name, resp.StatusCode, tc.want)
			}
		}
	}
	if _, err := c.Forward(ctx, "x"); statusCode(err) != http.StatusNotFound {
		t.Fatalf("a refused request created config x: %v", err)
	}
	if m, _ := c.Settings(ctx); m[fwdconfig.SettingHTTPLogsDefaultEnabled] != "false" {
		t.Fatalf("a refused request changed a setting: %v", m)
	}
	// With the token, over TCP, they work.
	tc := localapi.NewTCPClient(addr, token)
	defer tc.Close()
	if _, err := tc.CreateConfig(ctx, webConfig("x")); err != nil {
		t.Fatalf("create over TCP with the token: %v", err)
	}
	if err := tc.SetSetting(ctx, fwdconfig.SettingHTTPLogsDefaultEnabled, "true"); err != nil {
		t.Fatalf("setting over TCP with the token: %v", err)
	}
}
