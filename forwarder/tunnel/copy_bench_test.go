package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"k8s.io/streaming/pkg/httpstream"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// The copy path alone, without the API server and kubelet: a local
// connection and a data stream that produce and swallow bytes at memory
// speed, so what is measured is what Forward adds per read (counting,
// replay bookkeeping, inspection), not the network. Run:
//
//	go test -run '^$' -bench CopyPath -benchmem ./forwarder/tunnel/
//
// One op is one 32 KiB read and write in each direction, so allocs/op is
// allocations per read (Forward's fixed cost per connection is spread over
// b.N reads and rounds to 0).

const benchChunk = 32 << 10

// feedConn is a local client that sends left full buffers, then EOF, and
// swallows what it is sent. Its bytes are not written into the buffer:
// the benchmark measures the path, not memcpy.
type feedConn struct {
	net.Conn // nil: only the methods below are used
	left     int
}

func (f *feedConn) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, io.EOF
	}
	f.left--
	return len(p), nil
}
func (f *feedConn) Write(p []byte) (int, error)     { return len(p), nil }
func (f *feedConn) Close() error                    { return nil }
func (f *feedConn) SetReadDeadline(time.Time) error { return nil }

// feedStreams is an upgraded connection whose pod answers every data
// stream with left full buffers, then ends its side once the client
// half-closed, and reports no error.
type feedStreams struct {
	left int
}

func (f *feedStreams) CreateStream(h http.Header) (httpstream.Stream, error) {
	s := &feedStream{h: h, left: f.left, closed: make(chan struct{})}
	if h.Get("streamType") == "error" {
		s.left = 0
		s.Close()
	}
	return s, nil
}
func (f *feedStreams) Close() error                       { return nil }
func (f *feedStreams) CloseChan() <-chan bool             { return nil }
func (f *feedStreams) SetIdleTimeout(time.Duration)       {}
func (f *feedStreams) RemoveStreams(...httpstream.Stream) {}

type feedStream struct {
	h      http.Header
	left   int
	once   sync.Once
	closed chan struct{}
}

func (s *feedStream) Read(p []byte) (int, error) {
	if s.left > 0 {
		s.left--
		return len(p), nil
	}
	<-s.closed
	return 0, io.EOF
}
func (s *feedStream) Write(p []byte) (int, error) { return len(p), nil }
func (s *feedStream) Close() error                { s.once.Do(func() { close(s.closed) }); return nil }
func (s *feedStream) Reset() error                { return s.Close() }
func (s *feedStream) Headers() http.Header        { return s.h }
func (s *feedStream) Identifier() uint32          { return 0 }

// benchForward forwards n chunks each way through Forward and checks the
// counters.
func benchForward(b *testing.B, n int, local func(net.Conn) *Local) {
	c := newConn(&feedStreams{left: n}, nil, SPDY, Options{}.withDefaults(), "default", "p")
	defer c.Close()
	var counters Counters
	b.SetBytes(2 * benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	err := c.Forward(context.Background(), local(&feedConn{left: n}), 8080, &counters)
	b.StopTimer()
	if err != nil && !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
	if to, from := counters.ToPod.Load(), counters.FromPod.Load(); to != int64(n*benchChunk) || from != int64(n*benchChunk) {
		b.Fatalf("counted %d to the pod and %d from it, want %d each", to, from, n*benchChunk)
	}
}

// BenchmarkCopyPath: off is the path with no inspector (what every forward
// runs unless HTTP logs are on); inspector adds a hook that does nothing
// (the cost of the guarded calls themselves). inspect.BenchmarkAsync
// measures the queue an HTTP logger would add.
func BenchmarkCopyPath(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		benchForward(b, b.N, NewLocal)
	})
	b.Run("inspector", func(b *testing.B) {
		benchForward(b, b.N, func(c net.Conn) *Local {
			l := NewLocal(c)
			l.Inspect(inspect.Open(oneConn{nopConn{}}, inspect.ConnInfo{}))
			return l
		})
	})
}
