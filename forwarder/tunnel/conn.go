package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/streaming/pkg/httpstream"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// Conn is one upgraded port-forward connection to a pod. It carries any
// number of concurrent forwarded local connections.
type Conn struct {
	Namespace, Pod string
	Transport      Transport // the transport actually used

	sc     httpstream.Connection
	act    *activityConn
	opts   Options
	nextID atomic.Int64
	active atomic.Int64

	done      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	err       error
}

func newConn(sc httpstream.Connection, act *activityConn, t Transport, opts Options, ns, pod string) *Conn {
	c := &Conn{Namespace: ns, Pod: pod, Transport: t, sc: sc, act: act, opts: opts, done: make(chan struct{})}
	go c.watch()
	return c
}

// watch ends the connection when the server closes it or stops answering.
func (c *Conn) watch() {
	t := time.NewTicker(c.opts.PingPeriod / 2)
	defer t.Stop()
	for {
		select {
		case <-c.sc.CloseChan():
			c.closeWith(errors.New("connection closed by the API server"))
			return
		case <-c.done:
			return
		case now := <-t.C:
			if c.act != nil && c.act.dead(now, c.opts.DeadAfter) {
				c.closeWith(fmt.Errorf("%w (nothing received for %s)", errDead, c.opts.DeadAfter))
				return
			}
		}
	}
}

func (c *Conn) closeWith(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		c.sc.Close()
		if c.act != nil {
			c.act.Close() // unblocks a stalled read at once
		}
	})
}

// Close closes the connection and every stream on it.
func (c *Conn) Close() error {
	c.closeWith(errors.New("closed"))
	return nil
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended (nil while it is up).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Active is the number of local connections being forwarded over c.
func (c *Conn) Active() int { return int(c.active.Load()) }

// Counters receives byte counts as data flows; fields are updated atomically.
// Each byte is counted once, when it is read from its side (the client's
// bytes when read from the local connection, not when a replay re-sends
// them), as an inspector sees it.
type Counters struct {
	ToPod, FromPod atomic.Int64
}

// StreamError is an error the pod side reported for one forwarded
// connection (the kubelet's error stream). It concerns that connection only.
type StreamError struct{ Msg string }

func (e *StreamError) Error() string { return "pod side: " + e.Msg }

// RefusedError means the pod never received the connection: the stream
// could not be opened, or the kubelet refused it (pod terminating or gone,
// nothing listening) before the pod sent a byte. The local connection is
// left open, with what was read from it kept for the next attempt, so the
// caller can hand it to another pod with Forward.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return "refused before reaching the pod: " + e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// replayLimit bounds what is kept of a local connection's first bytes for
// a replay; a client that sent more before any answer is not replayed.
const replayLimit = 64 << 10

// Local is a local connection being forwarded. It remembers what it read
// until the pod answers, so a refused connection can go to another pod.
type Local struct {
	net.Conn
	pending []byte // read from Conn earlier, not delivered to a pod yet
	eof     bool   // Conn reached EOF after pending

	rec      []byte
	overflow bool
	answered atomic.Bool // the pod sent something: stop recording

	// Set by Forward for each attempt, before its copy goroutines start,
	// and read by them only.
	counters *Counters
	ic       inspect.Conn // nil: not inspected
	attempts int
}

// NewLocal wraps an accepted local connection.
func NewLocal(c net.Conn) *Local { return &Local{Conn: c} }

// Inspect makes ic see this connection's attempts and bytes (package
// inspect), ic as inspect.Open returns it. Call it before the first
// Forward. Closing ic is the caller's, once it is done with the connection.
func (l *Local) Inspect(ic inspect.Conn) { l.ic = ic }

func (l *Local) Read(p []byte) (int, error) {
	if len(l.pending) > 0 {
		// A replay: these bytes were counted and shown when first read.
		n := copy(p, l.pending)
		l.pending = l.pending[n:]
		l.record(p[:n])
		return n, nil
	}
	if l.eof {
		return 0, io.EOF
	}
	n, err := l.Conn.Read(p)
	if n > 0 {
		if l.counters != nil {
			l.counters.ToPod.Add(int64(n))
		}
		if l.ic != nil {
			l.ic.ClientBytes(p[:n])
		}
		l.record(p[:n])
	}
	if err == io.EOF {
		l.eof = true
	}
	return n, err
}

func (l *Local) record(b []byte) {
	if len(b) == 0 || l.overflow || l.answered.Load() {
		return
	}
	if len(l.rec)+len(b) > replayLimit {
		l.overflow, l.rec = true, nil
		return
	}
	l.rec = append(l.rec, b...)
}

// rewind makes everything read in this attempt pending again, ahead of
// what was pending and not read yet (an attempt that failed before reading
// must not lose it).
func (l *Local) rewind() {
	l.pending = append(l.rec, l.pending...)
	l.rec = nil
	l.answered.Store(false)
}

// refusal reports whether the kubelet's message means the pod's process
// never saw the connection.
func refusal(msg string) bool {
	for _, s := range []string{"not found", "terminating", "connection refused", "failed to connect", "container not running", "no such container"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// answerWriter writes the pod's bytes to the local client: it marks the
// Local answered on the first byte, and counts and shows each chunk before
// it is written.
type answerWriter struct {
	l *Local
}

func (w answerWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.l.answered.Store(true)
		if w.l.counters != nil {
			w.l.counters.FromPod.Add(int64(len(p)))
		}
		if w.l.ic != nil {
			w.l.ic.ServerBytes(p)
		}
	}
	return w.l.Conn.Write(p)
}

// Forward copies between local and port on the pod through a new stream
// pair, until both directions are done or one fails. An error ends this
// local connection only, never c. It closes local, except when it returns
// a *RefusedError: then local is intact and may be forwarded again (bytes
// re-sent then are not counted or shown to local's inspector again).
func (c *Conn) Forward(ctx context.Context, local *Local, port int, counters *Counters) (err error) {
	keepLocal := false
	defer func() {
		if !keepLocal {
			local.Close()
		}
	}()
	local.counters = counters
	local.attempts++
	if local.ic != nil {
		local.ic.Attempt(inspect.Attempt{N: local.attempts, Namespace: c.Namespace, Pod: c.Pod, Port: port, Start: time.Now()})
	}
	refused := func(e error) error {
		if local.overflow {
			return e
		}
		keepLocal = true
		local.rewind()
		if local.ic != nil {
			local.ic.Discard(e)
		}
		return &RefusedError{Err: e}
	}
	select {
	case <-c.done:
		return refused(fmt.Errorf("upgraded connection ended: %w", c.Err()))
	default:
	}
	c.active.Add(1)
	defer c.active.Add(-1)
	if tc, ok := local.Conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	errStream, data, err := c.createPair(port)
	if err != nil {
		return refused(err)
	}
	// We never write to the error stream.
	errStream.Close()
	defer c.sc.RemoveStreams(errStream, data)

	errMsg := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(errStream, 64<<10))
		errMsg <- strings.TrimSpace(string(b))
	}()

	fromPod := make(chan error, 1)
	toPod := make(chan error, 1)
	go func() {
		_, err := copyBuf(answerWriter{local}, data)
		fromPod <- err
	}()
	go func() {
		_, err := copyBuf(data, local)
		if err == nil {
			// The client half-closed: tell the pod, keep reading its answer.
			err = data.Close()
			if err != nil {
				err = fmt.Errorf("half-close to pod: %w", err)
			}
		}
		toPod <- err
	}()

	var result error
	toPodDone, fromPodDone := false, false
	select {
	case err := <-fromPod:
		result, fromPodDone = err, true
	case err := <-toPod:
		toPodDone = true
		if err != nil {
			result = err
			break
		}
		select {
		case result = <-fromPod:
			fromPodDone = true
		case <-c.done:
			result = fmt.Errorf("upgraded connection ended: %w", c.Err())
		case <-ctx.Done():
			result = ctx.Err()
		}
	case <-c.done:
		result = fmt.Errorf("upgraded connection ended: %w", c.Err())
	case <-ctx.Done():
		result = ctx.Err()
	}
	// Discard anything unsent so the error stream is not blocked behind it.
	data.Reset()
	var msg string
	read := false
	select {
	case msg = <-errMsg:
		read = true
	case <-c.done:
	case <-time.After(time.Second):
		// The kubelet closes the error stream right after the data stream;
		// do not hang this connection if it does not.
	}
	if !read {
		// The reader may still be blocked on a stream the kubelet keeps
		// open, and would live as long as the upgraded connection: reset
		// the stream (which ends its Read) and wait for the reader, so
		// nothing of this local connection outlives it.
		errStream.Reset()
		<-errMsg
	}
	if msg != "" && !local.answered.Load() && refusal(msg) && ctx.Err() == nil {
		// Stop the local reader without closing the connection, then
		// keep what it read for the next pod.
		if !toPodDone {
			local.Conn.SetReadDeadline(time.Now())
			<-toPod
			local.Conn.SetReadDeadline(time.Time{})
		}
		// The pod's reader ends at once (data was reset). Waiting for it
		// makes sure no byte of this attempt reaches the client (or the
		// inspector) once it is replayed elsewhere.
		if !fromPodDone {
			<-fromPod
		}
		if !local.answered.Load() {
			return refused(&StreamError{Msg: msg})
		}
	}
	local.Close()
	if msg != "" {
		return &StreamError{Msg: msg}
	}
	if result != nil && isClosedErr(result) {
		return nil
	}
	return result
}

// createPair opens the error and data streams of one forwarded connection.
// Both requests go out at once, so opening the pair costs one round trip to
// the kubelet instead of two; the kubelet matches the streams by requestID
// whatever order they arrive in, and dials the pod only once it has both.
// If either fails the other is reset, so the kubelet drops the pair (and
// the pod gets no data from this attempt, which keeps a refusal replayable).
//
// No pair is pre-created for the next connection: the kubelet dials the
// pod's port as soon as it holds both streams, so a spare pair would be a
// pod connection with no client behind it (a server that speaks first would
// greet nobody, idle timeouts would close it, and the backend would count
// connections no one made).
func (c *Conn) createPair(port int) (errStream, data httpstream.Stream, err error) {
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	header := func(streamType string) http.Header {
		h := http.Header{}
		h.Set("streamType", streamType)
		h.Set("port", strconv.Itoa(port))
		h.Set("requestID", id)
		return h
	}
	type result struct {
		s   httpstream.Stream
		err error
	}
	dataCh := make(chan result, 1)
	go func() {
		s, err := c.createStream(header("data"))
		dataCh <- result{s, err}
	}()
	errStream, errErr := c.createStream(header("error"))
	d := <-dataCh
	data, dataErr := d.s, d.err
	if errErr == nil && dataErr == nil {
		return errStream, data, nil
	}
	for _, s := range []httpstream.Stream{errStream, data} {
		if s != nil {
			s.Reset()
			c.sc.RemoveStreams(s)
		}
	}
	if errErr != nil {
		return nil, nil, fmt.Errorf("create error stream: %w", errErr)
	}
	return nil, nil, fmt.Errorf("create data stream: %w", dataErr)
}

// createStream opens a stream without waiting for a reply longer than it
// takes to notice the connection is gone. spdystream waits 30 s for the
// reply even when the connection has ended meanwhile; a stream the API
// server does not answer within a ping period means the connection is
// broken (its far side was cut and nothing told us yet), so it is closed
// and its users redial.
func (c *Conn) createStream(h http.Header) (httpstream.Stream, error) {
	type result struct {
		s   httpstream.Stream
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.sc.CreateStream(h)
		ch <- result{s, err}
	}()
	abandon := func() {
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Reset()
			}
		}()
	}
	timer := time.NewTimer(c.opts.PingPeriod)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-c.done:
		abandon()
		return nil, fmt.Errorf("upgraded connection ended: %w", c.Err())
	case <-timer.C:
		abandon()
		err := fmt.Errorf("no reply to a new stream within %s: connection presumed broken", c.opts.PingPeriod)
		c.closeWith(err)
		return nil, err
	}
}

func isClosedErr(err error) bool {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "use of closed network connection") || strings.Contains(s, "stream reset") ||
		strings.Contains(s, "connection reset by peer") || strings.Contains(s, "broken pipe")
}

// Buffers are pooled: thousands of short connections should not each
// allocate their copy buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBuf copies like io.CopyBuffer with a pooled buffer, without letting
// io.Copy pick ReaderFrom/WriterTo (which allocate a fresh buffer for
// non-socket sources). Counting and inspection happen in Local.Read and
// answerWriter, on this buffer.
func copyBuf(dst io.Writer, src io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
			if w != n {
				return total, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}
