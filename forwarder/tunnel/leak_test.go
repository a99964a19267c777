package tunnel

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/streaming/pkg/httpstream"
)

// silentConn is an upgraded connection to a kubelet that never closes a
// connection's error stream: its streams block in Read until they are reset
// or the connection closes, as spdystream's do.
type silentConn struct {
	closed chan bool
	once   sync.Once
}

func (c *silentConn) CreateStream(h http.Header) (httpstream.Stream, error) {
	return &silentStream{h: h.Clone(), conn: c, reset: make(chan struct{})}, nil
}
func (c *silentConn) Close() error                       { c.once.Do(func() { close(c.closed) }); return nil }
func (c *silentConn) CloseChan() <-chan bool             { return c.closed }
func (c *silentConn) SetIdleTimeout(time.Duration)       {}
func (c *silentConn) RemoveStreams(...httpstream.Stream) {}

type silentStream struct {
	h     http.Header
	conn  *silentConn
	reset chan struct{}
	once  sync.Once
}

func (s *silentStream) Read([]byte) (int, error) {
	select {
	case <-s.reset:
	case <-s.conn.closed:
	}
	return 0, io.EOF
}
func (s *silentStream) Write(p []byte) (int, error) { return len(p), nil }
func (s *silentStream) Close() error                { return nil } // half-close: the far side may still write
func (s *silentStream) Reset() error                { s.once.Do(func() { close(s.reset) }); return nil }
func (s *silentStream) Headers() http.Header        { return s.h }
func (s *silentStream) Identifier() uint32          { return 0 }

// forwardGoroutines counts the goroutines Conn.Forward started that are
// still alive.
func forwardGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "created by github.com/kftray-go/kftray/forwarder/tunnel.(*Conn).Forward")
}

// Every goroutine of a forwarded connection ends with it, even when the
// kubelet never closes the error stream: the reader of that stream must not
// live on until the whole upgraded connection goes.
func TestForwardLeavesNoGoroutine(t *testing.T) {
	sc := &silentConn{closed: make(chan bool)}
	c := newConn(sc, nil, SPDY, Options{}.withDefaults(), "default", "p")
	defer c.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	before := forwardGoroutines()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Forward(ctx, NewLocal(server), 8080, nil) }()
	// The forward stops (the local connection's forward is stopped).
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Forward did not return within 10s of its context ending")
	}
	deadline := time.Now().Add(5 * time.Second)
	for forwardGoroutines() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines of the finished Forward still run (the upgraded connection is still up):\n%s", forwardGoroutines()-before, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-c.Done():
		t.Fatal("the upgraded connection ended; the test needs it up")
	default:
	}
}
