package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// httpBackend serves web-1's port 8080 with a real HTTP server.
func httpBackend(t *testing.T, w *world) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(rw, `{"path":%q,"body":%q}`, r.URL.Path, b)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	w.srv.AddPod("default", "web-1", map[int32]string{8080: ln.Addr().String()})
}

// The HTTP log through the daemon's API: off by default, turned on and
// off at run time without restarting the forward, listed, followed,
// shown in full, replayed, exported as HAR, written to its file, purged;
// the global default turns it on for a forward whose config says nothing.
func TestDaemonHTTPLogs(t *testing.T) {
	dir := shortDir(t)
	cfg := addWeb(t, dir)
	w := testWorld(t)
	httpBackend(t, w)
	c, _ := runInProcess(t, dir, w, "")
	ctx := context.Background()
	if _, err := c.Start(ctx, localapi.Selection{Refs: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	f := waitForward(t, c, "web", "running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	addr, since := f.Address, f.Since

	// One keep-alive connection for the whole test: a restart of the
	// forward would cut it.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	do := func(method, path, body string) {
		t.Helper()
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: web\r\nAuthorization: Bearer s3cret\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", method, path, len(body), body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s %s through the forward: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do("GET", "/before", "")

	// Follow the HTTP stream from the start.
	var mu sync.Mutex
	var followed []string
	fctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	go c.FollowHTTP(fctx, "web", localapi.HTTPQuery{}, func(e localapi.HTTPExchange) error {
		mu.Lock()
		followed = append(followed, e.Method+" "+e.Path)
		mu.Unlock()
		return nil
	})

	st, err := c.SetHTTPLog(ctx, "web", localapi.HTTPLogSettings{Enabled: true})
	if err != nil || !st.Enabled || !st.Redact {
		t.Fatalf("enable: %+v %v", st, err)
	}
	if stored, _ := openStore(t, dir).LookupConfig(ctx, "web"); !stored.HTTPLogsEnabled {
		t.Error("enabling did not set the config's http_logs_enabled")
	}
	// The open connection was accepted before logging was on: it stays
	// unlogged (an inspector sees connections whole). A new one is logged.
	do("GET", "/still-unlogged", "")
	conn.Close()
	conn, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	br = bufio.NewReader(conn)
	do("GET", "/one", "")
	do("POST", "/two", `{"k":"v"}`)

	var list []localapi.HTTPExchange
	waitFor(t, "two exchanges", func() (bool, string) {
		list, err = c.HTTPExchanges(ctx, "web", localapi.HTTPQuery{})
		return err == nil && len(list) == 2, fmt.Sprintf("%+v %v", list, err)
	})
	if list[0].Path != "/one" || list[1].Path != "/two" || list[1].Status != 200 || list[1].Response.Body != "" {
		t.Fatalf("list: %+v", list)
	}
	if got, _ := c.HTTPExchanges(ctx, "web", localapi.HTTPQuery{Method: "post"}); len(got) != 1 || got[0].Path != "/two" {
		t.Errorf("method filter: %+v", got)
	}
	if got, _ := c.HTTPExchanges(ctx, "web", localapi.HTTPQuery{Status: "5xx"}); len(got) != 0 {
		t.Errorf("status filter: %+v", got)
	}
	full, err := c.HTTPExchange(ctx, "web", list[1].ID)
	if err != nil || full.Request.Body != "{\n  \"k\": \"v\"\n}" || !strings.Contains(full.Response.Body, `"path": "/two"`) {
		t.Fatalf("full exchange: %+v %v", full, err)
	}
	for _, h := range full.Request.Headers {
		if h.Name == "Authorization" && h.Value != localapi.Redacted {
			t.Errorf("Authorization shown: %q", h.Value)
		}
	}
	if _, err := c.HTTPExchange(ctx, "web", 999); err == nil || err.(*localapi.StatusError).Code != 404 {
		t.Errorf("unknown exchange: %v", err)
	}

	rep, err := c.ReplayHTTP(ctx, "web", list[1].ID)
	if err != nil || !rep.Replay || rep.ReplayOf != list[1].ID || rep.Status != 200 || !strings.Contains(rep.Response.Body, `"body": "{\"k\":\"v\"}"`) {
		t.Fatalf("replay: %+v %v", rep, err)
	}
	fwd := waitForward(t, c, "web", "3 exchanges counted", func(f localapi.Forward) bool { return f.HTTPLog != nil && f.HTTPLog.Exchanges == 3 })
	if fwd.HTTPLog.DroppedConns != 0 || !fwd.HTTPLog.Enabled {
		t.Errorf("forward's log status: %+v", fwd.HTTPLog)
	}
	waitFor(t, "the followed stream", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(followed) == 3, fmt.Sprint(followed)
	})

	raw, err := c.HTTPHAR(ctx, "web", localapi.HTTPQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var har struct {
		Log struct {
			Version string
			Entries []struct {
				Request  struct{ Method, URL string }
				Response struct{ Status int }
			}
		}
	}
	if err := json.Unmarshal(raw, &har); err != nil || har.Log.Version != "1.2" || len(har.Log.Entries) != 3 || har.Log.Entries[0].Request.URL != "http://web/one" {
		t.Fatalf("HAR: %v %+v", err, har)
	}

	_, port, _ := net.SplitHostPort(addr)
	file := filepath.Join(dir, "http_logs", fmt.Sprintf("%d_%s.http", cfg.ID, port))
	var data []byte
	waitFor(t, "six entries in "+file, func() (bool, string) {
		data, err = os.ReadFile(file)
		return strings.Count(string(data), "\n###\n") >= 6, fmt.Sprint(err)
	})
	if n := strings.Count(string(data), "# Trace ID: "); n != 6 || strings.Contains(string(data), "s3cret") || strings.Contains(string(data), "unlogged") {
		t.Errorf("file %s has %d trace lines (want 6), or a secret:\n%s", file, n, data)
	}

	// Off, at once, without a restart: the open connection goes on.
	if st, err := c.SetHTTPLog(ctx, "web", localapi.HTTPLogSettings{Enabled: false}); err != nil || st.Enabled {
		t.Fatalf("disable: %+v %v", st, err)
	}
	do("GET", "/after-off", "")
	conn.Close()

	// The global default turns it on for the forward whose config is off.
	if err := c.SetSetting(ctx, fwdconfig.SettingHTTPLogsDefaultEnabled, "true"); err != nil {
		t.Fatal(err)
	}
	conn, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	br = bufio.NewReader(conn)
	do("GET", "/by-default", "")
	conn.Close()
	waitFor(t, "the default-on exchange", func() (bool, string) {
		got, _ := c.HTTPExchanges(ctx, "web", localapi.HTTPQuery{Path: "by-default"})
		return len(got) == 1, fmt.Sprint(got)
	})
	if got, _ := c.HTTPExchanges(ctx, "web", localapi.HTTPQuery{}); len(got) != 4 || got[3].Path != "/by-default" {
		t.Errorf("exchanges after off and default on: %+v; want /after-off not logged", got)
	}
	if f := waitForward(t, c, "web", "all connections done", func(f localapi.Forward) bool { return f.ActiveConns == 0 }); f.Reconnects != 0 || !f.Since.Equal(since) || f.Address != addr {
		t.Errorf("the forward was restarted or lost connections: %+v", f)
	}

	// An edit of only the log fields applies without a restart too.
	cur, err := c.Config(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	cur.HTTPLogsEnabled, cur.HTTPLogsMaxFileSize = true, 1<<20
	if err := c.UpdateConfig(ctx, "web", cur); err != nil {
		t.Fatalf("editing only http_logs_*: %v", err)
	}
	if f, _ := c.Forward(ctx, "web"); !f.Since.Equal(since) {
		t.Errorf("the forward restarted after an edit of its log fields")
	}

	res, err := c.PurgeHTTPLogs(ctx, "web")
	if err != nil || res.Files != 1 {
		t.Fatalf("purge: %+v %v", res, err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("%s still there after the purge: %v", file, err)
	}
	if got, _ := c.HTTPExchanges(ctx, "web", localapi.HTTPQuery{}); len(got) != 0 {
		t.Errorf("after purge: %d exchanges", len(got))
	}
}
