package inspect

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFellBehind is the Close reason of a connection whose events were
// dropped because its Async inspector's queue was full: what it was shown
// is a prefix of the traffic, and the rest is missing.
var ErrFellBehind = errors.New("inspector fell behind: the rest of this connection was not inspected")

// ErrStopped is the Close reason of connections still open when their Async
// inspector was closed.
var ErrStopped = errors.New("inspector stopped")

// Limits bound what an Async holds for its worker.
type Limits struct {
	Events int // queued calls; default 4096
	Bytes  int // queued copies of chunks, in bytes; default 8 MiB
	// Pause is how long the worker waits after each batch before it looks
	// for the next: calls queued meanwhile cost the copy path no wake-up
	// of the worker (a goroutine switch per chunk otherwise, on a busy
	// keep-alive connection). Default 1 ms; negative: no pause.
	Pause time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.Events <= 0 {
		l.Events = 4096
	}
	if l.Bytes <= 0 {
		l.Bytes = 8 << 20
	}
	if l.Pause == 0 {
		l.Pause = time.Millisecond
	}
	return l
}

// Stats count what an Async did.
type Stats struct {
	Conns        int64 // connections opened
	LostConns    int64 // connections not inspected, or cut short, because the queue was full
	DroppedBytes int64 // bytes not shown because their connection was lost
}

// Async is an Inspector that never blocks the copy path: calls are queued
// (with a copy of each chunk) and made to next's Conns on one worker
// goroutine, in order. When the queue is full a connection is lost as a
// whole rather than shown with a hole in the middle: its Conn gets
// Close(ErrFellBehind) and nothing more, and Stats counts it. A
// connection that arrives while the queue is full is not opened at all.
//
// The worker calls next (Open and every Conn method) one call at a time,
// across all connections, so next may block as it likes: only the queue
// fills. Memory is bounded by Limits.
type Async struct {
	next Inspector
	lim  Limits

	mu      sync.Mutex
	queue   []event
	pending int // events queued or being delivered
	bytes   int // bytes of those events
	closed  bool
	wake    chan struct{}
	done    chan struct{}

	conns, lost, dropped atomic.Int64
}

type eventKind uint8

const (
	evOpen eventKind = iota
	evAttempt
	evClient
	evServer
	evDiscard
	evClose
)

type event struct {
	c    *asyncConn
	kind eventKind
	buf  *[]byte // evClient, evServer: a pooled copy of the chunk
	info ConnInfo
	att  Attempt
	err  error
}

// NewAsync starts an Async in front of next. Close stops it.
func NewAsync(next Inspector, lim Limits) *Async {
	a := &Async{next: next, lim: lim.withDefaults(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go a.run()
	return a
}

// Stats returns the counters.
func (a *Async) Stats() Stats {
	return Stats{Conns: a.conns.Load(), LostConns: a.lost.Load(), DroppedBytes: a.dropped.Load()}
}

// queued is how many calls wait for the worker or are being delivered.
func (a *Async) queued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending
}

// Close delivers what is queued, closes the Conns still open with
// ErrStopped and stops the worker. Connections opened later are not
// inspected.
func (a *Async) Close() {
	a.mu.Lock()
	already := a.closed
	a.closed = true
	a.mu.Unlock()
	if !already {
		a.signal()
	}
	<-a.done
}

// Open queues the opening of next's Conn for the connection.
func (a *Async) Open(info ConnInfo) Conn {
	c := &asyncConn{a: a}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	if a.pending >= a.lim.Events {
		a.lost.Add(1)
		return nil
	}
	a.conns.Add(1)
	a.pushLocked(event{c: c, kind: evOpen, info: info}, 0)
	return c
}

func (a *Async) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *Async) pushLocked(ev event, size int) {
	a.queue = append(a.queue, ev)
	a.pending++
	a.bytes += size
	if a.pending == 1 {
		a.signal()
	}
}

// run delivers queued events in batches, so the lock is taken once per
// batch, not per event.
func (a *Async) run() {
	defer close(a.done)
	open := map[*asyncConn]struct{}{}
	var batch []event
	for {
		a.mu.Lock()
		for len(a.queue) == 0 && !a.closed {
			a.mu.Unlock()
			<-a.wake
			a.mu.Lock()
		}
		if len(a.queue) == 0 {
			a.mu.Unlock()
			break
		}
		batch, a.queue = a.queue, batch[:0]
		a.mu.Unlock()
		size := 0
		for i := range batch {
			size += a.deliver(&batch[i], open)
			batch[i] = event{}
		}
		a.mu.Lock()
		a.pending -= len(batch)
		a.bytes -= size
		closed := a.closed
		a.mu.Unlock()
		if a.lim.Pause > 0 && !closed {
			time.Sleep(a.lim.Pause)
		}
	}
	for c := range open {
		c.inner.Close(ErrStopped)
	}
}

// deliver makes one call to next and returns the bytes it releases.
func (a *Async) deliver(ev *event, open map[*asyncConn]struct{}) int {
	c := ev.c
	size := 0
	if ev.buf != nil {
		size = len(*ev.buf)
		defer putBuf(ev.buf)
	}
	if ev.kind == evOpen {
		c.inner = a.next.Open(ev.info)
		c.ignorer, _ = c.inner.(Ignorer)
		if c.inner != nil {
			open[c] = struct{}{}
		}
		return size
	}
	if c.inner == nil {
		return size
	}
	switch ev.kind {
	case evAttempt:
		c.inner.Attempt(ev.att)
	case evClient:
		c.inner.ClientBytes(*ev.buf)
		c.checkIgnore()
	case evServer:
		c.inner.ServerBytes(*ev.buf)
		c.checkIgnore()
	case evDiscard:
		c.inner.Discard(ev.err)
	case evClose:
		c.inner.Close(ev.err)
		c.inner = nil
		delete(open, c)
	}
	return size
}

// asyncConn is the Conn the copy path sees. Its methods only queue.
type asyncConn struct {
	a *Async
	// Written under a.mu; lost is also read without it, to skip copying
	// chunks of a lost connection.
	lost atomic.Bool
	// ignore is set by the worker once the Conn wants no more bytes
	// (Ignorer); read without the lock to skip copying them.
	ignore atomic.Bool
	closed bool
	// Worker only.
	inner   Conn
	ignorer Ignorer // inner, if it is one: asked after each chunk
}

// push queues ev unless the connection is lost; when the queue is full it
// loses the connection instead: the worker is told to close it with
// ErrFellBehind (queued beyond the limits: one small event per connection).
func (c *asyncConn) push(ev event, size int) {
	a := c.a
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case c.closed:
		// After Close (a copy goroutine finishing its last read): the
		// connection is over, nothing of it is lost.
		if ev.buf != nil {
			putBuf(ev.buf)
		}
		return
	case c.lost.Load() || a.closed:
	case a.pending >= a.lim.Events || a.bytes+size > a.lim.Bytes:
		c.lost.Store(true)
		a.lost.Add(1)
		a.pushLocked(event{c: c, kind: evClose, err: ErrFellBehind}, 0)
	default:
		ev.c = c
		a.pushLocked(ev, size)
		return
	}
	if ev.buf != nil {
		a.dropped.Add(int64(size))
		putBuf(ev.buf)
	}
}

func (c *asyncConn) Attempt(at Attempt) { c.push(event{kind: evAttempt, att: at}, 0) }
func (c *asyncConn) Discard(err error)  { c.push(event{kind: evDiscard, err: err}, 0) }

func (c *asyncConn) ClientBytes(p []byte) { c.bytes(evClient, p) }
func (c *asyncConn) ServerBytes(p []byte) { c.bytes(evServer, p) }

// checkIgnore (worker) notes a Conn that wants no more bytes.
func (c *asyncConn) checkIgnore() {
	if c.ignorer != nil && c.ignorer.IgnoreBytes() {
		c.ignore.Store(true)
	}
}

func (c *asyncConn) bytes(kind eventKind, p []byte) {
	if c.ignore.Load() {
		return // not dropped: the Conn asked for no more
	}
	if c.lost.Load() {
		c.a.dropped.Add(int64(len(p)))
		return
	}
	c.push(event{kind: kind, buf: copyBuf(p)}, len(p))
}

// Close is always queued (once), whatever the limits, so next learns
// the end of every connection it opened.
func (c *asyncConn) Close(err error) {
	a := c.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.lost.Load() || c.closed || a.closed {
		return
	}
	c.closed = true
	a.pushLocked(event{c: c, kind: evClose, err: err}, 0)
}

// Chunk copies come from a pool: the copy loop's chunks are at most its
// 32 KiB buffer.
const poolChunk = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, poolChunk); return &b }}

func copyBuf(p []byte) *[]byte {
	if len(p) > poolChunk {
		b := append([]byte(nil), p...)
		return &b
	}
	bp := bufPool.Get().(*[]byte)
	*bp = append((*bp)[:0], p...)
	return bp
}

func putBuf(bp *[]byte) {
	if cap(*bp) == poolChunk {
		bufPool.Put(bp)
	}
}
