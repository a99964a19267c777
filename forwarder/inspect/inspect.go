// Package inspect is the inspection point of the data path: one hook per
// forwarded local connection that sees the bytes of both directions as the
// copy loop moves them, without copying them, and is told about every
// attempt to reach a pod. HTTP traffic logs plug in here.
//
// # Contract
//
// A forward with an Inspector (Forward.SetInspector) calls Open once per
// accepted local connection, in the connection's handler, before any byte
// moves. The Conn it returns (nil: this connection is not inspected) then
// gets, through the guard that package function Open wraps it in:
//
//   - Attempt when the connection is sent to a pod: first, and again after
//     each Discard.
//   - ClientBytes with each chunk read from the local client, before it is
//     written to the pod; ServerBytes with each chunk read from the pod,
//     before it is written to the client. Each byte is shown exactly once,
//     in order, whatever the number of attempts (see Discard).
//   - Discard when the attempt ended before the pod answered (the kubelet
//     refused the stream: pod terminating or gone, nothing listening).
//     No ServerBytes were shown for it. The client bytes already shown are
//     re-sent on the next attempt and are NOT shown again, so a parser
//     keeps its state: nothing needs resetting and nothing is logged twice.
//     Discard is informational (which pod refused, and why).
//   - Close once, last, with why the connection ended (nil: both sides
//     finished normally).
//
// Calls to one Conn never overlap and none follows Close, so an
// implementation needs no lock of its own. A chunk is only valid during the
// call: it is the copy loop's own buffer, to be read, never modified or
// kept (copy what must outlive the call).
//
// Implementations must not block: every call runs on the copy path, and a
// slow call slows both directions of that connection. Anything that may wait
// (parsing a large body, writing a file) belongs behind a bounded queue, as
// NewAsync does: when it falls behind it drops and counts, never blocks.
//
// With no Inspector set, the copy path pays one nil check per read and
// allocates nothing.
package inspect

import (
	"net"
	"sync"
	"time"
)

// Inspector opens the per-connection hook of a forward.
type Inspector interface {
	// Open is called for each accepted local connection; nil leaves the
	// connection uninspected. It must not block.
	Open(ConnInfo) Conn
}

// ConnInfo identifies one local connection.
type ConnInfo struct {
	ForwardID int64     // the forward's config id
	Forward   string    // the forward's alias, may be empty
	ID        int64     // the connection's number within the forward, from 1
	Client    net.Addr  // the local client's address
	Local     net.Addr  // the forward's address the client connected to
	Start     time.Time // when the connection was accepted
}

// Attempt is one try at sending a connection to a pod.
type Attempt struct {
	N         int // 1 for the first attempt
	Namespace string
	Pod       string
	Port      int // the pod's container port
	Start     time.Time
}

// Conn sees one local connection; see the package documentation for the
// order and meaning of the calls. No method may block.
type Conn interface {
	Attempt(Attempt)
	ClientBytes(p []byte)
	ServerBytes(p []byte)
	Discard(err error)
	Close(err error)
}

// Ignorer is an optional method of a Conn: once IgnoreBytes reports true
// the Conn wants no more ClientBytes and ServerBytes (it passes the rest
// of the connection through unparsed: not HTTP, or upgraded), and an Async
// stops copying them; Attempt, Discard and Close still come. Asked on the
// Async's worker after each chunk; once true it must stay true.
type Ignorer interface {
	IgnoreBytes() bool
}

// Open opens in's hook for a connection, wrapped in serial; nil when in is
// nil or declines the connection. An Async's Conn is not wrapped: it keeps
// the same promises under the Async's own lock, so a second lock per chunk
// (and an allocation per connection) would buy nothing.
func Open(in Inspector, info ConnInfo) Conn {
	if in == nil {
		return nil
	}
	c := in.Open(info)
	switch c := c.(type) {
	case nil:
		return nil
	case *asyncConn:
		return c
	}
	return &serial{c: c}
}

// serial makes the package's ordering promises true whatever goroutines the
// engine calls from: calls never overlap, and nothing follows Close (a copy
// goroutine may still be finishing a read when the connection is closed).
type serial struct {
	mu     sync.Mutex
	c      Conn
	closed bool
}

func (s *serial) Attempt(a Attempt) {
	s.mu.Lock()
	if !s.closed {
		s.c.Attempt(a)
	}
	s.mu.Unlock()
}

func (s *serial) ClientBytes(p []byte) {
	s.mu.Lock()
	if !s.closed {
		s.c.ClientBytes(p)
	}
	s.mu.Unlock()
}

func (s *serial) ServerBytes(p []byte) {
	s.mu.Lock()
	if !s.closed {
		s.c.ServerBytes(p)
	}
	s.mu.Unlock()
}

func (s *serial) Discard(err error) {
	s.mu.Lock()
	if !s.closed {
		s.c.Discard(err)
	}
	s.mu.Unlock()
}

func (s *serial) Close(err error) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.c.Close(err)
	}
	s.mu.Unlock()
}
