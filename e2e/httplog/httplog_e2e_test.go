//go:build e2e

// Package e2e_test runs the daemon's HTTP traffic logs against the dev
// cluster: a Service whose pod's ports are served by this test's own
// processes (an HTTP/1.1 + h2c server, and a server-speaks-first
// protocol), reached through the real API server and kubelet
// port-forward code. Run with
//
//	KFTRAY_DEVCLUSTER_BIN=.../devcluster go test -tags e2e ./e2e/httplog/
package e2e_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/forwarder/daemon/daemontest"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

// podHTTP is the pod's HTTP port: HTTP/1.1 and h2c, as a real server.
func podHTTP(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello from the pod (%s)", r.Proto) })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "chunk%d ", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		z := gzip.NewWriter(w)
		fmt.Fprint(z, `{"enc":"gzip"}`)
		z.Close()
	})
	mux.HandleFunc("/br", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "br")
		w.Header().Set("Content-Type", "text/plain")
		z := brotli.NewWriter(w)
		fmt.Fprint(z, "brotli body")
		z.Close()
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "pod got %q", b)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte("x"), 4096)) })
	mux.HandleFunc("/grpc.Echo/Say", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		io.Copy(io.Discard, r.Body)
		w.Write([]byte{0, 0, 0, 0, 3, 'y', 'e', 's'})
		w.Header().Set("Grpc-Status", "0")
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(c, rw)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h2c.NewHandler(mux, &http2.Server{})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// podRaw is a protocol where the server speaks first, then echoes.
func podRaw(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprint(c, "220 raw ready\r\n")
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// har is what a HAR 1.2 reader needs (the spec's required fields).
type har struct {
	Log struct {
		Version string `json:"version"`
		Creator struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"creator"`
		Entries []struct {
			StartedDateTime time.Time `json:"startedDateTime"`
			Time            *float64  `json:"time"`
			Request         struct {
				Method      string            `json:"method"`
				URL         string            `json:"url"`
				HTTPVersion string            `json:"httpVersion"`
				Cookies     []json.RawMessage `json:"cookies"`
				Headers     []struct{ Name, Value string }
				QueryString []json.RawMessage `json:"queryString"`
				HeadersSize *int64            `json:"headersSize"`
				BodySize    *int64            `json:"bodySize"`
			} `json:"request"`
			Response struct {
				Status      int               `json:"status"`
				StatusText  *string           `json:"statusText"`
				HTTPVersion string            `json:"httpVersion"`
				Cookies     []json.RawMessage `json:"cookies"`
				Headers     []struct{ Name, Value string }
				Content     struct {
					Size     *int64 `json:"size"`
					MimeType string `json:"mimeType"`
					Text     string `json:"text"`
				} `json:"content"`
				RedirectURL *string `json:"redirectURL"`
				HeadersSize *int64  `json:"headersSize"`
				BodySize    *int64  `json:"bodySize"`
			} `json:"response"`
			Cache   *struct{} `json:"cache"`
			Timings struct {
				Send    *float64 `json:"send"`
				Wait    *float64 `json:"wait"`
				Receive *float64 `json:"receive"`
			} `json:"timings"`
		} `json:"entries"`
	} `json:"log"`
}

func TestHTTPLogsOnTheDevCluster(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	httpAddr, rawAddr := podHTTP(t), podRaw(t)
	ctx := context.Background()
	err := c.Deploy(ctx, ns, cluster.App{
		Name: "web",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			{Name: "raw", ContainerPort: 9000, Protocol: corev1.ProtocolTCP}},
		ServicePorts: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			{Name: "raw", Port: 9000, TargetPort: intstr.FromString("raw"), Protocol: corev1.ProtocolTCP}},
		PodAnnotations: map[string]string{cluster.AnnotationBackendAddr + "-8080": httpAddr, cluster.AnnotationBackendAddr + "-9000": rawAddr},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadyPods(ctx, ns, "web", 1); err != nil {
		t.Fatal(err)
	}

	dir, err := os.MkdirTemp("", "kfh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	web := fwdconfig.Config{Alias: "web", Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: ns, WorkloadType: "service",
		Protocol: "tcp", Service: "web", RemotePort: 80, HTTPLogsEnabled: true, HTTPLogsMaxFileSize: 4096, HTTPLogsAutoCleanup: true}
	raw := fwdconfig.Config{Alias: "raw", Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: ns, WorkloadType: "service",
		Protocol: "tcp", Service: "web", RemotePort: 9000, HTTPLogsEnabled: true, HTTPLogsAutoCleanup: false}
	for _, cfg := range []*fwdconfig.Config{&web, &raw} {
		if err := st.AddConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	// Files the retention sweep at the daemon's start must judge: web's
	// expired rotated file goes, raw's (no auto cleanup) stays, a deleted
	// config's expired file goes, a fresh one and a stranger stay.
	logDir := filepath.Join(dir, "http_logs")
	os.MkdirAll(logDir, 0o700)
	old := time.Now().Add(-10 * 24 * time.Hour)
	seed := map[string]time.Time{
		fmt.Sprintf("%d_1.20200101T000000.000000000.http", web.ID): old,
		fmt.Sprintf("%d_2.20200101T000000.000000000.http", raw.ID): old,
		"99_3.http":                           old,
		"99_4.20200102T000000.000000000.http": time.Now(),
		"notes.txt":                           old,
	}
	for name, mt := range seed {
		p := filepath.Join(logDir, name)
		os.WriteFile(p, []byte("x\n"), 0o600)
		os.Chtimes(p, mt, mt)
	}

	api, _ := daemontest.Run(t, fwdaemon.Options{Dir: dir})
	kftraytest.Poll(t, "the start-up sweep", func() (bool, string) {
		_, err := os.Stat(filepath.Join(logDir, "99_3.http"))
		return os.IsNotExist(err), fmt.Sprint(err)
	})
	var left []string
	ents, _ := os.ReadDir(logDir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	sort.Strings(left)
	wantLeft := []string{fmt.Sprintf("%d_2.20200101T000000.000000000.http", raw.ID), "99_4.20200102T000000.000000000.http", "notes.txt"}
	if strings.Join(left, " ") != strings.Join(wantLeft, " ") {
		t.Fatalf("after the sweep: %v, want %v", left, wantLeft)
	}

	res, err := api.Start(ctx, localapi.Selection{Refs: []string{"web", "raw"}})
	if err != nil || res.Failed() > 0 {
		t.Fatalf("start: %+v %v", res, err)
	}
	addr := map[string]string{}
	for _, r := range res.Results {
		addr[r.Ref] = r.Forward.Address
	}
	kftraytest.Poll(t, "forwards running", func() (bool, string) {
		fs, err := api.Forwards(ctx)
		n := 0
		for _, f := range fs {
			if f.Status == localapi.StatusRunning {
				n++
			}
		}
		return err == nil && n == 2, fmt.Sprint(fs, err)
	})

	// Keep-alive: four exchanges on one connection (chunked, gzip, br).
	tr := &http.Transport{DisableCompression: true, MaxConnsPerHost: 1}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for _, p := range []string{"/hello", "/chunked", "/gzip", "/br"} {
		resp, err := hc.Get("http://" + addr["web"] + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := hc.Post("http://"+addr["web"]+"/echo", "text/plain", strings.NewReader("ping"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()

	// WebSocket: the handshake is logged, the frames are not.
	ws, err := net.Dial("tcp", addr["web"])
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(ws, "GET /ws HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(ws)
	if r, err := http.ReadResponse(br, nil); err != nil || r.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", r, err)
	}
	frame := "GET /inside-the-websocket HTTP/1.1\r\n\r\n"
	fmt.Fprint(ws, frame)
	got := make([]byte, len(frame))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != frame {
		t.Fatalf("websocket echo: %q %v", got, err)
	}
	ws.Close()

	// h2c with prior knowledge: a gRPC-style call with trailers.
	h2 := &http.Client{Timeout: 30 * time.Second, Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, n, a string, _ *tls.Config) (net.Conn, error) { return net.Dial(n, a) }}}
	greq, _ := http.NewRequest("POST", "http://"+addr["web"]+"/grpc.Echo/Say", bytes.NewReader([]byte{0, 0, 0, 0, 2, 'h', 'i'}))
	greq.Header.Set("Content-Type", "application/grpc")
	greq.Header.Set("Te", "trailers")
	gresp, err := h2.Do(greq)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, gresp.Body)
	gresp.Body.Close()
	if gresp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("grpc-status %q", gresp.Trailer.Get("Grpc-Status"))
	}
	h2.CloseIdleConnections()

	// A protocol that is not HTTP, on a forward with logging on.
	rc, err := net.Dial("tcp", addr["raw"])
	if err != nil {
		t.Fatal(err)
	}
	rr := bufio.NewReader(rc)
	if l, err := rr.ReadString('\n'); err != nil || l != "220 raw ready\r\n" {
		t.Fatalf("raw greeting %q %v", l, err)
	}
	fmt.Fprint(rc, "GET / HTTP/1.1\r\n\r\n")
	rc.(*net.TCPConn).CloseWrite()
	io.ReadAll(rr)
	rc.Close()

	want := []string{"GET /hello 200", "GET /chunked 200", "GET /gzip 200", "GET /br 200", "POST /echo 200",
		"GET /ws 101", "POST /grpc.Echo/Say 200"}
	var list []localapi.HTTPExchange
	kftraytest.Poll(t, "the logged exchanges", func() (bool, string) {
		list, err = api.HTTPExchanges(ctx, "web", localapi.HTTPQuery{})
		return err == nil && len(list) >= len(want), fmt.Sprint(len(list), err)
	})
	var gotList []string
	for _, e := range list {
		gotList = append(gotList, fmt.Sprintf("%s %s %d", e.Method, e.Path, e.Status))
	}
	if strings.Join(gotList, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logged:\n%s\nwant exactly:\n%s", strings.Join(gotList, "\n"), strings.Join(want, "\n"))
	}
	bodies := map[string]string{"/hello": "hello from the pod (HTTP/1.1)", "/chunked": "chunk0 chunk1 chunk2 ", "/gzip": "{\n  \"enc\": \"gzip\"\n}",
		"/br": "brotli body", "/echo": `pod got "ping"`}
	for _, e := range list {
		full, err := api.HTTPExchange(ctx, "web", e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := bodies[e.Path]; ok && full.Response.Body != w {
			t.Errorf("%s: body %q, want %q", e.Path, full.Response.Body, w)
		}
		if !strings.HasPrefix(full.Pod, ns+"/web-") {
			t.Errorf("%s: pod %q", e.Path, full.Pod)
		}
	}
	if g := list[6]; g.Proto != "HTTP/2" || g.GRPCStatus != "0" || g.Stream == 0 {
		t.Errorf("gRPC exchange: %+v", g)
	}
	if w := list[5]; w.Upgrade != "websocket" {
		t.Errorf("websocket exchange: %+v", w)
	}
	if rl, err := api.HTTPExchanges(ctx, "raw", localapi.HTTPQuery{}); err != nil || len(rl) != 0 {
		t.Errorf("the non-HTTP forward logged %d exchanges (%v)", len(rl), err)
	}
	if f, _ := api.Forward(ctx, "raw"); f.HTTPLog == nil || f.HTTPLog.Exchanges != 0 || f.HTTPLog.Errors != 0 {
		t.Errorf("raw forward's log status: %+v", f.HTTPLog)
	}

	// Replay returns the pod's answer and is logged as a replay.
	rep, err := api.ReplayHTTP(ctx, "web", list[4].ID)
	if err != nil || !rep.Replay || rep.ReplayOf != list[4].ID || rep.Response.Body != `pod got "ping"` {
		t.Fatalf("replay: %+v %v", rep, err)
	}
	grep, err := api.ReplayHTTP(ctx, "web", list[6].ID)
	if err != nil || grep.GRPCStatus != "0" || grep.Proto != "HTTP/2" {
		t.Fatalf("gRPC replay: %+v %v", grep, err)
	}

	// HAR: parses into the spec's required fields.
	data, err := api.HTTPHAR(ctx, "web", localapi.HTTPQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var h har
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	if h.Log.Version != "1.2" || h.Log.Creator.Name != "kftray" || len(h.Log.Entries) != len(want)+2 {
		t.Fatalf("HAR log: version %q creator %q, %d entries", h.Log.Version, h.Log.Creator.Name, len(h.Log.Entries))
	}
	for i, e := range h.Log.Entries {
		r, s := e.Request, e.Response
		if e.StartedDateTime.IsZero() || e.Time == nil || e.Cache == nil || e.Timings.Send == nil || e.Timings.Wait == nil || e.Timings.Receive == nil ||
			r.Method == "" || !strings.HasPrefix(r.URL, "http://") || r.HTTPVersion == "" || r.Cookies == nil || r.Headers == nil || r.QueryString == nil ||
			r.HeadersSize == nil || r.BodySize == nil || s.Status == 0 || s.StatusText == nil || s.Cookies == nil || s.Headers == nil ||
			s.Content.Size == nil || s.Content.MimeType == "" || s.RedirectURL == nil || s.HeadersSize == nil || s.BodySize == nil {
			t.Errorf("HAR entry %d lacks a required field: %+v", i, e)
		}
	}

	// The .http files: web's exchanges in kftray's format, rotated at its
	// 4 KiB limit; nothing for raw.
	var files []string
	var text strings.Builder
	rotated := 0
	kftraytest.Poll(t, "every entry in the .http files", func() (bool, string) {
		files, _ = filepath.Glob(filepath.Join(logDir, fmt.Sprintf("%d_*.http", web.ID)))
		text.Reset()
		rotated = 0
		for _, f := range files {
			b, _ := os.ReadFile(f)
			text.Write(b)
			if base := filepath.Base(f); strings.Count(base, ".") == 3 && !strings.Contains(base, "20200101") {
				rotated++
			}
		}
		n := strings.Count(text.String(), "\n###\n")
		return n >= 2*(len(want)+2), fmt.Sprint(n, files)
	})
	if rotated == 0 {
		t.Errorf("no rotated file at a 4 KiB limit: %v", files)
	}
	all := text.String()
	if n := strings.Count(all, "# Trace ID: "); n != 2*(len(want)+2) {
		t.Errorf("%d trace lines in %v, want %d", n, files, 2*(len(want)+2))
	}
	for _, s := range []string{"GET /hello HTTP/1.1\n", "# Took: ", "\n###\n", "brotli body", "POST /grpc.Echo/Say HTTP/2\n", "# Replay of: "} {
		if !strings.Contains(all, s) {
			t.Errorf("the .http files lack %q", s)
		}
	}
	if strings.Contains(all, "inside-the-websocket") {
		t.Error("bytes after the WebSocket upgrade were parsed")
	}
	if m, _ := filepath.Glob(filepath.Join(logDir, fmt.Sprintf("%d_*[0-9].http", raw.ID))); len(m) != 1 {
		t.Errorf("raw forward files: %v, want only the old rotated one", m)
	}
}
