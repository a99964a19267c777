package tunnel

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kftray-go/kftray/internal/kubelettest"
)

func startPod(t *testing.T, srv *kubelettest.Server, name string) {
	t.Helper()
	be, err := kubelettest.StartBackend(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Close)
	srv.AddPod("default", name, map[int32]string{8080: be.Addr()})
}

func startServer(t *testing.T) *kubelettest.Server {
	t.Helper()
	srv, err := kubelettest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// dialPod dials pod in namespace default of srv; the connection is
// closed when the test ends.
func dialPod(t *testing.T, srv *kubelettest.Server, pod string) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), srv.RESTConfig(), "default", pod, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tcpPair is the two ends of a fresh loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	return client, server
}

// forwardPipe forwards one end of a fresh loopback TCP pair over c and
// returns the other end, as a local client would see it.
func forwardPipe(t *testing.T, c *Conn, port int) (net.Conn, chan error) {
	t.Helper()
	client, server := tcpPair(t)
	done := make(chan error, 1)
	go func() { done <- c.Forward(context.Background(), NewLocal(server), port, nil) }()
	t.Cleanup(func() { client.Close() })
	return client, done
}

func TestTransports(t *testing.T) {
	srv := startServer(t)
	startPod(t, srv, "web-1")
	for _, tr := range []Transport{WebSocket, SPDY, Auto} {
		t.Run(string(tr)+"auto", func(t *testing.T) {
			c, err := Dial(context.Background(), srv.RESTConfig(), "default", "web-1", Options{Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tr == Auto && c.Transport != WebSocket {
				t.Errorf("auto chose %s, want websocket first", c.Transport)
			}
			// Half-close and a checksummed multi-MiB echo.
			payload := make([]byte, 4<<20)
			rand.Read(payload)
			client, done := forwardPipe(t, c, 8080)
			go func() {
				client.Write(payload)
				client.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(client)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]byte("web-1\n"), payload...)
			if sha256.Sum256(got) != sha256.Sum256(want) {
				t.Fatalf("echo mismatch: got %d bytes, want %d", len(got), len(want))
			}
			if err := <-done; err != nil {
				t.Fatalf("forward: %v", err)
			}
		})
	}
}

func TestStreamCutClosesOneConnection(t *testing.T) {
	srv := startServer(t)
	startPod(t, srv, "web-1")
	c := dialPod(t, srv, "web-1")
	// Open b only once a's stream answered, so streams[0] below is a's.
	a, aDone := forwardPipe(t, c, 8080)
	ra := bufio.NewReader(a)
	if l, err := ra.ReadString('\n'); err != nil || l != "web-1\n" {
		t.Fatalf("hello a: %q %v", l, err)
	}
	b, _ := forwardPipe(t, c, 8080)
	rb := bufio.NewReader(b)
	if l, err := rb.ReadString('\n'); err != nil || l != "web-1\n" {
		t.Fatalf("hello b: %q %v", l, err)
	}
	streams := srv.Streams("default", "web-1")
	if len(streams) != 2 {
		t.Fatalf("server sees %d streams, want 2", len(streams))
	}
	srv.Cut(streams[0])
	var se *StreamError
	if err := <-aDone; !errors.As(err, &se) || !strings.Contains(se.Msg, "reset by test hook") {
		t.Fatalf("cut stream: Forward returned %v, want the pod's error", err)
	}
	if _, err := ra.ReadByte(); err == nil {
		t.Fatal("cut connection still open")
	}
	// The other connection and the upgraded connection still work.
	b.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(rb, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("other connection: %q %v", buf, err)
	}
	c3, _ := forwardPipe(t, c, 8080)
	if l, err := bufio.NewReader(c3).ReadString('\n'); err != nil || l != "web-1\n" {
		t.Fatalf("new connection after cut: %q %v", l, err)
	}
	select {
	case <-c.Done():
		t.Fatalf("upgraded connection ended: %v", c.Err())
	default:
	}
}

func TestDeadConnectionDetected(t *testing.T) {
	srv := startServer(t)
	startPod(t, srv, "web-1")
	// A relay that can freeze stands in for a network that silently drops
	// packets: nothing is closed, nothing arrives.
	cfg := srv.RESTConfig()
	relay := startFreezer(t, strings.TrimPrefix(cfg.Host, "https://"))
	cfg.Host = "https://" + relay.addr
	c, err := Dial(context.Background(), cfg, "default", "web-1", Options{PingPeriod: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Healthy: pings are answered, the connection stays up for many periods.
	select {
	case <-c.Done():
		t.Fatalf("healthy connection declared dead: %v", c.Err())
	case <-time.After(500 * time.Millisecond):
	}
	relay.freeze()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed 10s after the network froze")
	}
	if !errors.Is(c.Err(), errDead) {
		t.Fatalf("error %v, want errDead", c.Err())
	}
}

type freezer struct {
	addr   string
	frozen chan struct{}
}

func (f *freezer) freeze() { close(f.frozen) }

func startFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { ln.Close(); close(stop) })
	f := &freezer{addr: ln.Addr().String(), frozen: make(chan struct{})}
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			select {
			case <-f.frozen:
				<-stop // hold the bytes until the test ends, like a dead link
				return
			default:
			}
			if err != nil {
				dst.Close()
				return
			}
			dst.Write(buf[:n])
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); u.Close() })
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return f
}

func TestDialErrors(t *testing.T) {
	srv := startServer(t)
	startPod(t, srv, "web-1")
	for _, tc := range []struct {
		name, pod string
		deny      []string
		tr        Transport
		want      string
	}{
		{"missing pod", "nope", nil, Auto, `pod default/nope not found`},
		{"spdy denied", "web-1", []string{"create"}, SPDY, "RBAC must allow create pods/portforward"},
		{"websocket denied", "web-1", []string{"get"}, WebSocket, "RBAC must allow get and create pods/portforward"},
		{"websocket denied create", "web-1", []string{"create"}, WebSocket, `cannot create resource "pods/portforward"`},
		{"both denied", "web-1", []string{"get", "create"}, Auto, "create pods/portforward (and get, for the WebSocket transport)"},
		{"create denied", "web-1", []string{"create"}, Auto, "create pods/portforward (and get, for the WebSocket transport)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.deny {
				srv.Deny(v)
				defer srv.Allow(v)
			}
			_, err := Dial(context.Background(), srv.RESTConfig(), "default", tc.pod, Options{Transport: tc.tr})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// Only "get" denied: automatic mode falls back to SPDY and works.
	srv.Deny("get")
	c, err := Dial(context.Background(), srv.RESTConfig(), "default", "web-1", Options{})
	if err != nil {
		t.Fatalf("fallback to SPDY: %v", err)
	}
	if c.Transport != SPDY {
		t.Errorf("transport %s, want spdy after websocket refused", c.Transport)
	}
	c.Close()
}
