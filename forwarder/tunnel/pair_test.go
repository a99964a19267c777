package tunnel

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/streaming/pkg/httpstream"
)

// gateConn is an httpstream.Connection that answers no CreateStream until
// both streams of a pair have been requested, the way a kubelet that is one
// round trip away looks to a client that waits for each reply in turn: such
// a client never sends its second request, and its first one fails.
type gateConn struct {
	fail string // streamType whose creation fails, once both are requested

	mu       sync.Mutex
	requests []http.Header
	both     chan struct{}
	created  []*gateStream
	removed  []httpstream.Stream
	closed   chan bool
}

func newGateConn(fail string) *gateConn {
	return &gateConn{fail: fail, both: make(chan struct{}), closed: make(chan bool)}
}

func (g *gateConn) CreateStream(h http.Header) (httpstream.Stream, error) {
	g.mu.Lock()
	g.requests = append(g.requests, h.Clone())
	if len(g.requests)%2 == 0 {
		close(g.both)
	}
	both := g.both
	if len(g.requests)%2 == 0 {
		g.both = make(chan struct{}) // the gate for the next pair
	}
	g.mu.Unlock()
	select {
	case <-both:
	case <-time.After(5 * time.Second):
		return nil, errors.New("the other stream of the pair was not requested while this one waited for its reply")
	}
	if h.Get("streamType") == g.fail {
		return nil, errors.New("refused by test")
	}
	s := &gateStream{h: h.Clone()}
	g.mu.Lock()
	g.created = append(g.created, s)
	g.mu.Unlock()
	return s, nil
}

func (g *gateConn) Close() error                 { return nil }
func (g *gateConn) CloseChan() <-chan bool       { return g.closed }
func (g *gateConn) SetIdleTimeout(time.Duration) {}
func (g *gateConn) RemoveStreams(s ...httpstream.Stream) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removed = append(g.removed, s...)
}

type gateStream struct {
	h http.Header

	mu           sync.Mutex
	reset, close bool
}

func (s *gateStream) Read([]byte) (int, error)    { return 0, errors.New("not readable in this test") }
func (s *gateStream) Write(p []byte) (int, error) { return len(p), nil }
func (s *gateStream) Close() error                { s.mu.Lock(); s.close = true; s.mu.Unlock(); return nil }
func (s *gateStream) Reset() error                { s.mu.Lock(); s.reset = true; s.mu.Unlock(); return nil }
func (s *gateStream) Headers() http.Header        { return s.h }
func (s *gateStream) Identifier() uint32          { return 0 }

func TestCreatePairOneRoundTrip(t *testing.T) {
	g := newGateConn("")
	c := newConn(g, nil, SPDY, Options{}.withDefaults(), "default", "p")
	defer c.Close()
	errStream, data, err := c.createPair(8080)
	if err != nil {
		t.Fatalf("createPair: %v", err)
	}
	if got := errStream.Headers().Get("streamType"); got != "error" {
		t.Errorf("error stream has streamType %q", got)
	}
	if got := data.Headers().Get("streamType"); got != "data" {
		t.Errorf("data stream has streamType %q", got)
	}
	for _, h := range g.requests[:2] {
		if h.Get("port") != "8080" || h.Get("requestID") != g.requests[0].Get("requestID") || h.Get("requestID") == "" {
			t.Errorf("stream headers %v: want port 8080 and the pair's shared requestID", h)
		}
	}
	// The next pair gets a new requestID.
	if _, _, err := c.createPair(8080); err != nil {
		t.Fatalf("second createPair: %v", err)
	}
	if a, b := g.requests[0].Get("requestID"), g.requests[2].Get("requestID"); a == b || b != g.requests[3].Get("requestID") {
		t.Errorf("two pairs share requestID %q", a)
	}
}

// When one stream of the pair fails, the other is reset and removed, and
// Forward reports a refusal that leaves the local connection usable.
func TestCreatePairHalfFails(t *testing.T) {
	for _, fail := range []string{"error", "data"} {
		t.Run(fail, func(t *testing.T) {
			g := newGateConn(fail)
			c := newConn(g, nil, SPDY, Options{}.withDefaults(), "default", "p")
			defer c.Close()
			client, server := tcpPair(t)
			defer client.Close()
			local := NewLocal(server)
			defer local.Close()

			err := c.Forward(context.Background(), local, 8080, nil)
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("Forward = %v, want a *RefusedError", err)
			}
			if want := "create " + fail + " stream"; !strings.Contains(err.Error(), want) {
				t.Errorf("Forward error %q does not say %q", err, want)
			}
			if len(g.created) != 1 {
				t.Fatalf("%d streams created, want 1", len(g.created))
			}
			other := g.created[0]
			if !other.reset {
				t.Errorf("the %s stream that was created was not reset", other.h.Get("streamType"))
			}
			if len(g.removed) != 1 || g.removed[0] != httpstream.Stream(other) {
				t.Errorf("removed streams %v, want only the created one", g.removed)
			}
			// The local connection is intact: it still carries bytes.
			if _, err := client.Write([]byte("x")); err != nil {
				t.Fatalf("local connection closed after a refusal: %v", err)
			}
			buf := make([]byte, 1)
			if _, err := local.Read(buf); err != nil || buf[0] != 'x' {
				t.Fatalf("local read after refusal = %q, %v", buf, err)
			}
		})
	}
}
