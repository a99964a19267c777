package relayserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/relaywire"
)

// wait bounds every blocking step, so a broken relay fails a test instead of
// hanging it.
const wait = 10 * time.Second

// udpUpstream is a real UDP server on loopback. For each request it sends the
// replies reply returns, to the request's source, and records that source.
type udpUpstream struct {
	conn *net.UDPConn
	mu   sync.Mutex
	srcs map[string]bool
}

func startUDPUpstream(t *testing.T, reply func(req []byte) [][]byte) *udpUpstream {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u := &udpUpstream{conn: conn, srcs: map[string]bool{}}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 70000)
		for {
			n, src, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			u.mu.Lock()
			u.srcs[src.String()] = true
			u.mu.Unlock()
			for _, r := range reply(append([]byte(nil), buf[:n]...)) {
				conn.WriteToUDP(r, src)
			}
		}
	}()
	return u
}

func (u *udpUpstream) port() int { return u.conn.LocalAddr().(*net.UDPAddr).Port }

func (u *udpUpstream) sources() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.srcs)
}

// startRelay runs a Server on a loopback listener until the test ends.
func startRelay(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.RemoteAddress == "" {
		cfg.RemoteAddress = "127.0.0.1"
	}
	cfg.ListenAddr = "127.0.0.1:0"
	s, err := New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// wireClient speaks relaywire directly, as the forwarder would.
type wireClient struct {
	t    *testing.T
	conn net.Conn
	r    *relaywire.Reader
}

func dialWire(t *testing.T, addr string) *wireClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(wait))
	if err := relaywire.WriteStreamHeader(c); err != nil {
		t.Fatal(err)
	}
	if err := relaywire.ReadStreamHeader(c); err != nil {
		t.Fatalf("relay stream header: %v", err)
	}
	return &wireClient{t: t, conn: c, r: relaywire.NewReader(c)}
}

func (w *wireClient) send(flow uint32, p []byte) {
	w.t.Helper()
	b, err := relaywire.AppendFrame(nil, relaywire.FrameData, flow, p)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.conn.Write(b); err != nil {
		w.t.Fatalf("send on flow %d: %v", flow, err)
	}
}

func (w *wireClient) next() relaywire.Frame {
	w.t.Helper()
	f, err := w.r.Next()
	if err != nil {
		w.t.Fatalf("reading from relay: %v", err)
	}
	f.Payload = append([]byte(nil), f.Payload...)
	return f
}

func TestUDPRequestResponse(t *testing.T) {
	up := startUDPUpstream(t, func(req []byte) [][]byte { return [][]byte{append([]byte("answer to "), req...)} })
	_, addr := startRelay(t, Config{Mode: ModeUDP, RemotePort: up.port()})
	c := dialWire(t, addr)
	for i, q := range []string{"A example.com", "AAAA example.com", "", strings.Repeat("x", relaywire.MaxPayload-len("answer to "))} {
		c.send(1, []byte(q))
		f := c.next()
		if f.Type != relaywire.FrameData || f.Flow != 1 || string(f.Payload) != "answer to "+q {
			t.Fatalf("query %d: got type %d flow %d %d bytes, want the answer on flow 1", i, f.Type, f.Flow, len(f.Payload))
		}
	}
}

func TestUDPFlowsAreSeparate(t *testing.T) {
	up := startUDPUpstream(t, func(req []byte) [][]byte { return [][]byte{req} })
	_, addr := startRelay(t, Config{Mode: ModeUDP, RemotePort: up.port()})
	c := dialWire(t, addr)
	const flows, rounds = 5, 20
	for r := range rounds {
		for f := uint32(1); f <= flows; f++ {
			c.send(f, fmt.Appendf(nil, "flow %d round %d", f, r))
		}
	}
	got := map[uint32]int{}
	for range flows * rounds {
		fr := c.next()
		var flow uint32
		var round int
		if _, err := fmt.Sscanf(string(fr.Payload), "flow %d round %d", &flow, &round); err != nil {
			t.Fatalf("unexpected reply %q", fr.Payload)
		}
		if flow != fr.Flow {
			t.Fatalf("reply for flow %d delivered on flow %d", flow, fr.Flow)
		}
		got[fr.Flow]++
	}
	for f := uint32(1); f <= flows; f++ {
		if got[f] != rounds {
			t.Errorf("flow %d: %d replies, want %d", f, got[f], rounds)
		}
	}
	if n := up.sources(); n != flows {
		t.Errorf("upstream saw %d source sockets, want one per flow (%d)", n, flows)
	}
}

func TestUDPManyRepliesPerRequest(t *testing.T) {
	up := startUDPUpstream(t, func(req []byte) [][]byte {
		n, _ := strconv.Atoi(string(req))
		var out [][]byte
		for i := range n {
			out = append(out, []byte(strconv.Itoa(i)))
		}
		return out
	})
	_, addr := startRelay(t, Config{Mode: ModeUDP, RemotePort: up.port()})
	c := dialWire(t, addr)
	c.send(7, []byte("25"))
	for i := range 25 {
		f := c.next()
		if f.Flow != 7 || string(f.Payload) != strconv.Itoa(i) {
			t.Fatalf("reply %d: got flow %d %q", i, f.Flow, f.Payload)
		}
	}
}

func TestUDPIdleFlowExpires(t *testing.T) {
	up := startUDPUpstream(t, func(req []byte) [][]byte { return [][]byte{req} })
	s, addr := startRelay(t, Config{Mode: ModeUDP, RemotePort: up.port(), UDPIdleTimeout: 50 * time.Millisecond})
	c := dialWire(t, addr)
	c.send(3, []byte("hi"))
	if f := c.next(); f.Type != relaywire.FrameData || f.Flow != 3 {
		t.Fatalf("got type %d flow %d, want data on flow 3", f.Type, f.Flow)
	}
	if f := c.next(); f.Type != relaywire.FrameClose || f.Flow != 3 {
		t.Fatalf("got type %d flow %d, want close of idle flow 3", f.Type, f.Flow)
	}
	if n := s.Stats().Flows; n != 0 {
		t.Fatalf("%d flows open after expiry, want 0", n)
	}
	// The same flow id works again afterwards, on a new upstream socket.
	c.send(3, []byte("again"))
	if f := c.next(); f.Flow != 3 || string(f.Payload) != "again" {
		t.Fatalf("after expiry: got flow %d %q", f.Flow, f.Payload)
	}
	if n := up.sources(); n != 2 {
		t.Fatalf("upstream saw %d sockets, want 2 (one before and one after expiry)", n)
	}
}

func TestUDPBadInputClosesOnlyThatStream(t *testing.T) {
	up := startUDPUpstream(t, func(req []byte) [][]byte { return [][]byte{req} })
	_, addr := startRelay(t, Config{Mode: ModeUDP, RemotePort: up.port()})
	tests := []struct {
		name   string
		header []byte
		body   []byte
	}{
		{"oversize frame", nil, []byte{relaywire.FrameData, 0, 0, 0, 1, 0xff, 0xe4}},
		{"unknown frame type", nil, []byte{9, 0, 0, 0, 1, 0, 0}},
		{"close with payload", nil, []byte{relaywire.FrameClose, 0, 0, 0, 1, 0, 1, 'x'}},
		{"wrong protocol", []byte("GET / HTTP/1.1\r\n\r\n"), nil},
		{"wrong version", []byte{'K', 'F', 'U', 99}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(wait))
			h := tt.header
			if h == nil {
				sh := relaywire.StreamHeader()
				h = sh[:]
			}
			c.Write(append(h, tt.body...))
			if err := relaywire.ReadStreamHeader(c); err != nil {
				t.Fatalf("relay header: %v", err)
			}
			// Unread input makes the kernel answer the close with a reset.
			if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("want the relay to close the stream, got %v", err)
			}
			// The relay itself still serves.
			w := dialWire(t, addr)
			w.send(1, []byte("still there"))
			if f := w.next(); string(f.Payload) != "still there" {
				t.Fatalf("relay after bad stream: got %q", f.Payload)
			}
		})
	}
}

func TestUDPUnreachableRemoteKeepsStream(t *testing.T) {
	// Nothing listens on this port: datagrams are refused, the stream stays.
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	s, addr := startRelay(t, Config{Mode: ModeUDP, RemotePort: port})
	c := dialWire(t, addr)
	for range 3 {
		c.send(1, []byte("anyone?"))
	}
	for deadline := time.Now().Add(wait); s.Stats().Flows != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("relay never opened the flow")
		}
	}
	up, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", port, err)
	}
	defer up.Close()
	go func() {
		buf := make([]byte, 100)
		for {
			n, src, err := up.ReadFromUDP(buf)
			if err != nil {
				return
			}
			up.WriteToUDP(buf[:n], src)
		}
	}()
	c.send(1, []byte("now"))
	// Datagrams still in flight when the upstream came up may be echoed too.
	for {
		f := c.next()
		if string(f.Payload) == "now" {
			break
		}
		if string(f.Payload) != "anyone?" {
			t.Fatalf("got %q", f.Payload)
		}
	}
}

func startTCPUpstream(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestTCPRelay(t *testing.T) {
	// The upstream reads the whole request (until half-close), then answers.
	port := startTCPUpstream(t, func(c net.Conn) {
		req, _ := io.ReadAll(c)
		fmt.Fprintf(c, "got %d bytes: %s", len(req), bytes.ToUpper(req[:min(len(req), 5)]))
	})
	_, addr := startRelay(t, Config{Mode: ModeTCP, RemotePort: port})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(wait))
			body := strings.Repeat("hello", 1000*(i+1))
			io.WriteString(c, body)
			c.(*net.TCPConn).CloseWrite()
			resp, err := io.ReadAll(c)
			if want := fmt.Sprintf("got %d bytes: HELLO", len(body)); err != nil || string(resp) != want {
				t.Errorf("conn %d: got %q, %v; want %q", i, resp, err, want)
			}
		}()
	}
	wg.Wait()
}

func TestTCPUnreachableRemoteClosesStream(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, addr := startRelay(t, Config{Mode: ModeTCP, RemotePort: port})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("got %q, %v; want the relay to close the stream", b, err)
	}
}

func TestGracefulShutdown(t *testing.T) {
	port := startTCPUpstream(t, func(c net.Conn) { io.Copy(c, c) })
	s, err := New(Config{Mode: ModeTCP, RemoteAddress: "127.0.0.1", RemotePort: port, ShutdownGrace: 100 * time.Millisecond},
		zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after shutdown: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Serve did not return after shutdown")
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("open stream should be closed by shutdown, got %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still accepting after shutdown")
	}
	if st := s.Stats(); st.Status != "not serving" || st.Streams != 0 {
		t.Fatalf("stats after shutdown: %+v", st)
	}
}

func TestHealthEndpoint(t *testing.T) {
	up := startUDPUpstream(t, func(req []byte) [][]byte { return [][]byte{req} })
	s, addr := startRelay(t, Config{Mode: ModeUDP, RemotePort: up.port()})
	c := dialWire(t, addr)
	c.send(1, []byte("x"))
	c.next()
	srv := httptest.NewServer(s.HealthHandler())
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var st Stats
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || st.Status != "ok" || st.Mode != ModeUDP || st.Streams != 1 || st.Flows != 1 {
			t.Fatalf("%s: %d %+v %v", path, resp.StatusCode, st, err)
		}
	}
}

func TestRunReportsBusyPort(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	s, err := New(Config{Mode: ModeTCP, RemoteAddress: "x", RemotePort: 1, ListenAddr: ln.Addr().String()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("got %v, want an error naming the busy address", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("cause not kept: %v", err)
	}
}

// One stream may not open unbounded upstream sockets: past the cap, new
// flows' datagrams are dropped, existing flows keep working.
func TestUDPFlowCap(t *testing.T) {
	up := startUDPUpstream(t, func(req []byte) [][]byte { return [][]byte{req} })
	s, addr := startRelay(t, Config{Mode: ModeUDP, RemotePort: up.port(), MaxFlowsPerStream: 2})
	c := dialWire(t, addr)
	c.send(1, []byte("one"))
	c.next()
	c.send(2, []byte("two"))
	c.next()
	c.send(3, []byte("three")) // over the cap: dropped
	c.send(1, []byte("one again"))
	if f := c.next(); f.Flow != 1 || string(f.Payload) != "one again" {
		t.Fatalf("got flow %d %q; want flow 1's reply and nothing for flow 3", f.Flow, f.Payload)
	}
	if n := s.Stats().Flows; n != 2 {
		t.Fatalf("%d flows open, want the cap of 2", n)
	}
}
