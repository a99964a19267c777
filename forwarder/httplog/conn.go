package httplog

import (
	"errors"
	"fmt"
	"time"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// DefaultBodyCap is how much of each body is kept by default.
const DefaultBodyCap = 1 << 20

// Bounds on what one connection may hold, whatever the traffic.
const (
	maxHead     = 64 << 10 // a request or response head
	maxLine     = 4 << 10  // a chunk-size line
	maxPending  = 32       // pipelined requests awaiting their responses
	maxHold     = 64 << 10 // client bytes sent before an upgrade is answered
	maxStreams  = 256      // open HTTP/2 streams
	maxH2Frame  = 1 << 20  // a non-DATA HTTP/2 frame
	maxH2Header = 256 << 10
)

// ParseOptions tune a connection's parser.
type ParseOptions struct {
	BodyCap int // bytes kept of each body; default DefaultBodyCap
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o ParseOptions) withDefaults() ParseOptions {
	if o.BodyCap <= 0 {
		o.BodyCap = DefaultBodyCap
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Sink receives what a connection's parser finds. Its methods are called
// on the goroutine that feeds the parser.
type Sink interface {
	// Exchange is called once per exchange, when it is complete (or the
	// connection ended without completing it, with a Note saying so).
	Exchange(*Exchange)
	// ParseError is called when a connection's traffic stopped being
	// parseable HTTP after it had started as HTTP; its logging ends.
	ParseError(info inspect.ConnInfo, err error)
}

type mode uint8

const (
	modeDetect mode = iota // nothing seen yet
	modeH1
	modeH2
	modePass // not HTTP, or upgraded: bytes pass unparsed
	modeDead // a parse error ended logging
)

// errNotHTTP ends detection: the connection is passed through unlogged.
var errNotHTTP = errors.New("not HTTP")

// h2Preface is what an HTTP/2 client with prior knowledge sends first.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Conn parses one connection's traffic into exchanges. It implements
// inspect.Conn; like every inspect.Conn its methods must not overlap. It
// never blocks, but it does parse, so it belongs behind inspect.NewAsync.
type Conn struct {
	info inspect.ConnInfo
	opts ParseOptions
	sink Sink
	pod  string

	mode  mode
	sniff []byte

	cli, srv h1Dir
	h2       *h2Conn

	pending []*Exchange // requests in order, until their response is done
	client  string      // the client's address
}

// NewConn returns the parser for one connection.
func NewConn(info inspect.ConnInfo, sink Sink, opts ParseOptions) *Conn {
	c := &Conn{info: info, opts: opts.withDefaults(), sink: sink}
	if info.Client != nil {
		c.client = info.Client.String()
	}
	c.cli = h1Dir{c: c, server: false}
	c.srv = h1Dir{c: c, server: true}
	return c
}

// IgnoreBytes (inspect.Ignorer): a connection passed through (not HTTP,
// upgraded) or whose logging ended needs no more bytes.
func (c *Conn) IgnoreBytes() bool { return c.mode == modePass || c.mode == modeDead }

// Attempt records the pod the connection goes to.
func (c *Conn) Attempt(a inspect.Attempt) {
	c.pod = a.Pod
	if a.Namespace != "" {
		c.pod = a.Namespace + "/" + a.Pod
	}
}

// Discard is informational: the client bytes already shown are re-sent to
// the next pod and not shown again, so the parser keeps its state.
func (c *Conn) Discard(error) {}

// ClientBytes parses bytes from the local client.
func (c *Conn) ClientBytes(p []byte) {
	switch c.mode {
	case modeDetect:
		c.detect(p)
	case modeH1:
		c.feed(&c.cli, p)
	case modeH2:
		c.feedH2(false, p)
	}
}

// ServerBytes parses bytes from the pod.
func (c *Conn) ServerBytes(p []byte) {
	switch c.mode {
	case modeDetect:
		// The server spoke first: not HTTP (a database greeting, SMTP...).
		c.mode = modePass
	case modeH1:
		c.feed(&c.srv, p)
	case modeH2:
		c.feedH2(true, p)
	}
}

// Close finishes what the connection's end completes (a body delimited by
// the close) and reports what it left unfinished.
func (c *Conn) Close(err error) {
	note := "the connection closed before the response ended"
	switch {
	case errors.Is(err, inspect.ErrFellBehind):
		note = "the logger fell behind: the rest of this connection was not logged"
	case errors.Is(err, inspect.ErrStopped):
		note = "logging stopped before the response ended"
	case err != nil:
		note = "the connection ended before the response did: " + err.Error()
	}
	switch c.mode {
	case modeH1:
		if c.srv.st == stClose && err == nil {
			c.responseEnd()
		}
	case modeH2:
		c.h2.close(note)
	}
	c.flushAll(note)
	c.mode = modeDead
}

// detect decides from the client's first bytes whether this is HTTP/1,
// HTTP/2 with prior knowledge, or something else.
func (c *Conn) detect(p []byte) {
	c.sniff = append(c.sniff, p...)
	s := c.sniff
	n := min(len(s), len(h2Preface))
	if string(s[:n]) == h2Preface[:n] {
		if len(s) < len(h2Preface) {
			return
		}
		c.mode = modeH2
		c.h2 = newH2Conn(c)
		c.sniff = nil
		c.feedH2(false, s)
		return
	}
	// An HTTP/1 request starts with a method: upper-case letters (and a
	// few token characters) then a space.
	for i, b := range s {
		switch {
		case b == ' ' && i > 0:
			c.mode = modeH1
			c.sniff = nil
			c.feed(&c.cli, s)
			return
		case (b >= 'A' && b <= 'Z') || b == '-' || b == '_':
			if i >= 24 {
				c.mode, c.sniff = modePass, nil
				return
			}
		default:
			c.mode, c.sniff = modePass, nil
			return
		}
	}
}

// feed runs one direction's HTTP/1 parser and handles its failure.
func (c *Conn) feed(d *h1Dir, p []byte) {
	if err := d.feed(p); err != nil {
		c.fail(err)
	}
}

// fail ends logging for this connection.
func (c *Conn) fail(err error) {
	if errors.Is(err, errNotHTTP) {
		// The first request line was not HTTP after all: pass it through,
		// unlogged and unreported.
		c.mode, c.pending = modePass, nil
		return
	}
	if c.mode == modeDead {
		return
	}
	note := fmt.Sprintf("logging of this connection stopped at a parse error: %v", err)
	if c.mode == modeH2 {
		c.h2.close(note)
	}
	c.flushAll(note)
	c.mode = modeDead
	c.sink.ParseError(c.info, err)
}

// newExchange starts an exchange at a request head.
func (c *Conn) newExchange(proto string) *Exchange {
	return &Exchange{Conn: c.info.ID, Proto: proto, Pod: c.pod, RequestAt: c.opts.Now(), client: c.client}
}

// emit hands a finished exchange to the sink.
func (c *Conn) emit(e *Exchange) {
	c.sink.Exchange(e)
}

// flushDone emits the exchanges at the head of the queue that are done,
// in request order.
func (c *Conn) flushDone() {
	i := 0
	for ; i < len(c.pending) && c.pending[i].reqDone && c.pending[i].respDone; i++ {
		c.emit(c.pending[i])
		c.pending[i] = nil
	}
	c.pending = c.pending[i:]
}

// flushAll emits every exchange still pending, with note on the
// unfinished ones.
func (c *Conn) flushAll(note string) {
	for i, e := range c.pending {
		if !e.respDone && e.Note == "" {
			e.Note = note
		}
		c.emit(e)
		c.pending[i] = nil
	}
	c.pending = nil
}
