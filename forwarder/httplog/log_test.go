package httplog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// teeProxy forwards local connections to backend the way the forwarder's
// copy loop does: each chunk is shown to the inspector, then written on.
// The inspector is read per connection, like Forward.SetInspector.
type teeProxy struct {
	ln      net.Listener
	backend string
	in      atomic.Pointer[inspect.Inspector]
	n       atomic.Int64
	wg      sync.WaitGroup
}

func newTeeProxy(t *testing.T, backend string) *teeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &teeProxy{ln: ln, backend: backend}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *teeProxy) set(in inspect.Inspector) {
	if in == nil {
		p.in.Store(nil)
		return
	}
	p.in.Store(&in)
}

func (p *teeProxy) addr() string { return p.ln.Addr().String() }

func (p *teeProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c.(*net.TCPConn))
	}
}

func (p *teeProxy) serve(c *net.TCPConn) {
	defer p.wg.Done()
	defer c.Close()
	var ic inspect.Conn
	if in := p.in.Load(); in != nil {
		ic = inspect.Open(*in, inspect.ConnInfo{ForwardID: 1, ID: p.n.Add(1), Client: c.RemoteAddr(), Local: c.LocalAddr(), Start: time.Now()})
	}
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		if ic != nil {
			ic.Close(err)
		}
		return
	}
	defer b.Close()
	if ic != nil {
		ic.Attempt(inspect.Attempt{N: 1, Namespace: "default", Pod: "web-0", Port: 80, Start: time.Now()})
	}
	var wg sync.WaitGroup
	copyLoop := func(dst, src *net.TCPConn, show func([]byte)) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if show != nil {
					show(buf[:n])
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = dst.CloseWrite()
	}
	var toPod, fromPod func([]byte)
	if ic != nil {
		toPod, fromPod = ic.ClientBytes, ic.ServerBytes
	}
	wg.Add(2)
	go copyLoop(b.(*net.TCPConn), c, toPod)
	go copyLoop(c, b.(*net.TCPConn), fromPod)
	wg.Wait()
	if ic != nil {
		ic.Close(nil)
	}
}

// backend is a real net/http server speaking HTTP/1.1 and h2c.
func backend(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") })
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "session=secret")
		fmt.Fprint(w, `{"a":1,"b":[true,null]}`)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	})
	enc := func(name string, wrap func(io.Writer) io.WriteCloser) {
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", name)
			w.Header().Set("Content-Type", "text/plain")
			zw := wrap(w)
			fmt.Fprintf(zw, "decoded %s body", name)
			zw.Close()
		})
	}
	enc("gzip", func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
	enc("br", func(w io.Writer) io.WriteCloser { return brotli.NewWriter(w) })
	enc("zstd", func(w io.Writer) io.WriteCloser { z, _ := zstd.NewWriter(w); return z })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Auth-Ok", fmt.Sprint(r.Header.Get("Authorization") == "Bearer top-secret"))
		_, _ = io.Copy(w, r.Body)
	})
	mux.HandleFunc("/binary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte{0, 1, 2, 3, 0xff})
	})
	mux.HandleFunc("/bulk", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	})
	mux.HandleFunc("/pkg.Greeter/Hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte{0, 0, 0, 0, 2, 'h', 'i'})
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
		_, _ = io.Copy(c, rw) // echo frames
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

// collect is a Publish that keeps events.
type collect struct {
	mu sync.Mutex
	ev []*Exchange
}

func (c *collect) publish(e *Exchange) {
	c.mu.Lock()
	c.ev = append(c.ev, e)
	c.mu.Unlock()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogRealTraffic(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, DirName)
	ev := &collect{}
	l := New(Options{ForwardID: 1, File: NewFile(logDir, 1, 8080, 0), Redact: true, Publish: ev.publish})
	defer l.Close()
	p := newTeeProxy(t, backend(t))
	p.set(l.Enable())

	// HTTP/1.1 keep-alive: every request on one connection.
	tr := &http.Transport{DisableCompression: true, MaxConnsPerHost: 1}
	hc := &http.Client{Transport: tr}
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+p.addr()+path, nil)
		req.Header.Set("Authorization", "Bearer top-secret")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for _, path := range []string{"/plain", "/json", "/chunked", "/gzip", "/br", "/zstd", "/binary"} {
		get(path)
	}
	ereq, _ := http.NewRequest("POST", "http://"+p.addr()+"/echo", strings.NewReader(`{"x":"y"}`))
	ereq.Header.Set("Content-Type", "application/json")
	ereq.Header.Set("Authorization", "Bearer top-secret")
	resp, err := hc.Do(ereq)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()

	// WebSocket-style upgrade: logged handshake, then raw frames.
	ws, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(ws, "GET /ws HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(ws)
	if r, err := http.ReadResponse(br, nil); err != nil || r.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", r, err)
	}
	const frame = "GET /not-logged HTTP/1.1\r\n\r\n"
	fmt.Fprint(ws, frame)
	buf := make([]byte, len(frame))
	if _, err := io.ReadFull(br, buf); err != nil {
		t.Fatal(err)
	}
	ws.Close()

	// h2c with prior knowledge, and a gRPC-style call with trailers.
	h2 := &http.Client{Transport: &http2.Transport{AllowHTTP: true, DisableCompression: true,
		DialTLSContext: func(ctx context.Context, n, a string, _ *tls.Config) (net.Conn, error) { return net.Dial(n, a) }}}
	r2, err := h2.Get("http://" + p.addr() + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r2.Body)
	r2.Body.Close()
	greq, _ := http.NewRequest("POST", "http://"+p.addr()+"/pkg.Greeter/Hello", bytes.NewReader([]byte{0, 0, 0, 0, 1, 'x'}))
	greq.Header.Set("Content-Type", "application/grpc")
	greq.Header.Set("Te", "trailers")
	r3, err := h2.Do(greq)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r3.Body)
	r3.Body.Close()
	h2.CloseIdleConnections()

	// Not HTTP at all.
	nh, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	nh.Write([]byte{0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f})
	nh.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, nh)
	nh.Close()

	want := []string{
		"GET /plain 200 HTTP/1.1", "GET /json 200 HTTP/1.1", "GET /chunked 200 HTTP/1.1", "GET /gzip 200 HTTP/1.1",
		"GET /br 200 HTTP/1.1", "GET /zstd 200 HTTP/1.1", "GET /binary 200 HTTP/1.1", "POST /echo 200 HTTP/1.1",
		"GET /ws 101 HTTP/1.1", "GET /plain 200 HTTP/2", "POST /pkg.Greeter/Hello 200 HTTP/2",
	}
	waitFor(t, "every exchange", func() bool { return len(l.Recent(nil, 0)) >= len(want) })
	list := l.Recent(nil, 0)
	var got []string
	for _, e := range list {
		got = append(got, fmt.Sprintf("%s %s %d %s", e.Method, e.Path, e.Status, e.Proto))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("exchanges:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	body := func(id int64) (string, string) {
		e := l.Get(id)
		if e == nil || e.Resp == nil {
			t.Fatalf("exchange %d: %+v", id, e)
		}
		return e.ResponseBody()
	}
	for id, wantBody := range map[int64]string{1: "hello", 2: "{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null\n  ]\n}", 3: "part0;part1;part2;",
		4: "decoded gzip body", 5: "decoded br body", 6: "decoded zstd body", 8: `{"x":"y"}`} {
		if b, note := body(id); b != wantBody || note != "" {
			t.Errorf("exchange %d body %q note %q, want %q", id, b, note, wantBody)
		}
	}
	if b, note := body(7); b != "" || note != "binary content: 5 bytes" {
		t.Errorf("binary body %q note %q", b, note)
	}
	if e := l.Get(9); e.Upgrade != "websocket" {
		t.Errorf("upgrade exchange: %+v", e)
	}
	if e := l.Get(11); e.GRPCStatus != "0" || e.Stream == 0 {
		t.Errorf("gRPC exchange: grpc-status %q stream %d", e.GRPCStatus, e.Stream)
	}
	// Redaction: in the API and the file, never the secret.
	e2 := l.Get(2)
	if v := headerValue(RedactHeaders(e2.Req.Headers, l.Redact()), "Authorization"); v != Redacted {
		t.Errorf("Authorization shown as %q", v)
	}
	if v := headerValue(RedactHeaders(e2.Resp.Headers, l.Redact()), "Set-Cookie"); v != Redacted {
		t.Errorf("Set-Cookie shown as %q", v)
	}

	// The file: 0600 in a 0700 directory, one request and one response
	// entry per exchange, no secrets.
	path := filepath.Join(logDir, "1_8080.http")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v", st.Mode().Perm())
	}
	if dst, _ := os.Stat(logDir); dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", dst.Mode().Perm())
	}
	// Entries are written in batches, at most FlushDelay after they are.
	var text string
	waitFor(t, "every entry in the file", func() bool {
		data, _ := os.ReadFile(path)
		text = string(data)
		return strings.Count(text, "\n###\n") >= 2*len(want)
	})
	if n := strings.Count(text, "# Request at: "); n != len(want) {
		t.Errorf("%d request entries, want %d", n, len(want))
	}
	if n := strings.Count(text, "# Took: "); n != len(want) {
		t.Errorf("%d response entries, want %d", n, len(want))
	}
	if n := strings.Count(text, "\n###\n"); n != 2*len(want) {
		t.Errorf("%d separators, want %d", n, 2*len(want))
	}
	for _, s := range []string{"GET /zstd HTTP/1.1\n", "decoded br body", "# <binary content: 5 bytes>", "HTTP/1.1 101 Switching Protocols\n", "POST /pkg.Greeter/Hello HTTP/2\n"} {
		if !strings.Contains(text, s) {
			t.Errorf("the file lacks %q", s)
		}
	}
	if strings.Contains(text, "top-secret") || strings.Contains(text, "session=secret") || strings.Contains(text, "not-logged") {
		t.Errorf("the file holds what it must not:\n%s", text)
	}
	if len(ev.ev) != len(want) || ev.ev[0] != list[0] {
		t.Errorf("%d events published (want %d, the recorded exchanges)", len(ev.ev), len(want))
	}

	// HAR: valid JSON with the required fields.
	har := l.HAR(func(e *Exchange) bool { return e.Status/100 == 2 }, 0, p.addr(), "test")
	hb, err := json.Marshal(har)
	if err != nil {
		t.Fatal(err)
	}
	var back HAR
	if err := json.Unmarshal(hb, &back); err != nil || back.Log.Version != "1.2" || len(back.Log.Entries) != len(want)-1 {
		t.Fatalf("HAR: %v version %q entries %d", err, back.Log.Version, len(back.Log.Entries))
	}
	if e := back.Log.Entries[0]; e.Request.URL != "http://"+p.addr()+"/plain" || e.Response.Content.Text != "hello" {
		t.Errorf("HAR entry: %+v", e)
	}

	// Replay: the request goes through the proxy again, with its real
	// Authorization, and comes back logged and marked.
	rep, err := l.Replay(context.Background(), 8, p.addr())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := l.Get(8).RequestBody(); b != "{\n  \"x\": \"y\"\n}" {
		t.Errorf("JSON request body shown as %q", b)
	}
	if !rep.Replay || rep.ReplayOf != 8 || rep.ID != 12 || rep.Status != 200 || respText(rep) != `{"x":"y"}` {
		t.Errorf("replay: %+v", rep)
	}
	if v := headerValue(rep.Resp.Headers, "X-Auth-Ok"); v != "true" {
		t.Errorf("the pod did not see the original Authorization on replay (X-Auth-Ok: %q)", v)
	}
	rep2, err := l.Replay(context.Background(), 11, p.addr())
	if err != nil {
		t.Fatal(err)
	}
	if !rep2.Replay || rep2.GRPCStatus != "0" || rep2.Proto != "HTTP/2" {
		t.Errorf("h2 replay: %+v", rep2)
	}
	if _, err := l.Replay(context.Background(), 9, p.addr()); err == nil {
		t.Error("a WebSocket handshake was replayed")
	}
	if _, err := l.Replay(context.Background(), 99, p.addr()); !errors.Is(err, ErrNoExchange) {
		t.Errorf("replay of an unknown id: %v", err)
	}
	if s := l.Status(); !s.Enabled || s.Exchanges != int64(len(want))+2 || s.DroppedConns != 0 || s.Errors != 0 {
		t.Errorf("status %+v", s)
	}
}

// A logger that stalls (its file, its subscribers) never stalls the
// connection: the Async in front drops and counts instead.
func TestStalledLoggerNeverStallsTheConnection(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	stalled := make(chan struct{})
	l := New(Options{ForwardID: 1, Limits: inspect.Limits{Events: 64, Bytes: 256 << 10}, Publish: func(*Exchange) {
		once.Do(func() { close(stalled) })
		<-release // stalls the worker for as long as the test runs
	}})
	defer func() { close(release); l.Close() }()
	p := newTeeProxy(t, backend(t))
	p.set(l.Enable())
	hc := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer hc.CloseIdleConnections()
	// The first exchange stalls the logger's worker.
	first, err := hc.Get("http://" + p.addr() + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	<-stalled
	// 64 MiB through a logger that takes nothing: it all arrives.
	const total = 64 << 20
	resp, err := hc.Post("http://"+p.addr()+"/bulk", "application/octet-stream", io.LimitReader(zeros{}, total))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != fmt.Sprint(total) {
		t.Fatalf("the pod got %s bytes, want %d", got, total)
	}
	if s := l.Status(); s.DroppedConns == 0 || s.DroppedBytes == 0 {
		t.Errorf("nothing counted as dropped: %+v", s)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func respText(e *Exchange) string { t, _ := e.ResponseBody(); return t }

// Trace ids are random version 4 UUIDs, as kftray's are.
func TestTraceIDIsUUIDv4(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := newTraceID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("trace id %q: not a fresh version 4 UUID", id)
		}
		seen[id] = true
	}
}
