package httplog

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// Defaults of a Log's ring of recent exchanges.
const (
	DefaultRingSize  = 1000
	DefaultRingBytes = 32 << 20
)

// Options configure one forward's Log.
type Options struct {
	ForwardID int64
	// File writes the REST-client file; nil writes none.
	File *File
	// BodyCap bounds each body kept (DefaultBodyCap).
	BodyCap int
	// Redact hides sensitive headers in everything shown (default on;
	// SetRedact changes it).
	Redact bool
	// RingSize and RingBytes bound the recent exchanges kept in memory.
	RingSize, RingBytes int
	// Limits bound the queue in front of the parser (inspect.NewAsync).
	Limits inspect.Limits
	// Publish is told each new exchange; it must not block. Recorded
	// exchanges are never changed again, so it may keep them.
	Publish func(*Exchange)
	Log     zerolog.Logger
	Now     func() time.Time
}

// Log is one forward's HTTP traffic log: an inspect.Inspector (through
// Inspector, behind an inspect.Async so the copy path never waits) that
// parses each connection, keeps recent exchanges in a bounded ring, writes
// them to the forward's .http file and publishes them.
type Log struct {
	opts   Options
	redact atomic.Bool
	file   atomic.Pointer[File]

	asyncMu sync.Mutex
	async   *inspect.Async
	base    inspect.Stats // of Asyncs closed before this one

	mu        sync.Mutex
	ring      []*Exchange
	ringBytes int
	nextID    int64
	replays   map[string]*replayWait // by the replaying client's address

	exchanges, parseErrors atomic.Int64
}

type replayWait struct {
	of   int64
	done chan *Exchange
}

// New returns a Log, not yet enabled.
func New(opts Options) *Log {
	if opts.BodyCap <= 0 {
		opts.BodyCap = DefaultBodyCap
	}
	if opts.RingSize <= 0 {
		opts.RingSize = DefaultRingSize
	}
	if opts.RingBytes <= 0 {
		opts.RingBytes = DefaultRingBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{opts: opts, replays: map[string]*replayWait{}}
	l.redact.Store(opts.Redact)
	l.file.Store(opts.File)
	return l
}

// Enable starts logging and returns the Inspector to give the forward
// (Forward.SetInspector). Enabling an enabled Log returns its Inspector.
func (l *Log) Enable() inspect.Inspector {
	l.asyncMu.Lock()
	defer l.asyncMu.Unlock()
	if l.async == nil {
		l.async = inspect.NewAsync(l, l.opts.Limits)
	}
	return l.async
}

// Inspector is the enabled Log's Inspector, nil when disabled.
func (l *Log) Inspector() inspect.Inspector {
	l.asyncMu.Lock()
	defer l.asyncMu.Unlock()
	if l.async == nil {
		return nil
	}
	return l.async
}

// Disable stops logging: connections open are logged up to now (their
// unfinished exchanges with a note). Take the Inspector off the forward
// first. The recent exchanges stay readable.
func (l *Log) Disable() {
	l.asyncMu.Lock()
	a := l.async
	l.async = nil
	l.asyncMu.Unlock()
	if a == nil {
		return
	}
	a.Close()
	s := a.Stats()
	l.asyncMu.Lock()
	l.base.Conns += s.Conns
	l.base.LostConns += s.LostConns
	l.base.DroppedBytes += s.DroppedBytes
	l.asyncMu.Unlock()
}

// Close disables the Log and closes its file.
func (l *Log) Close() error {
	l.Disable()
	if f := l.file.Load(); f != nil {
		return f.Close()
	}
	return nil
}

// File is the Log's file writer, nil when it writes none.
func (l *Log) File() *File { return l.file.Load() }

// SetFile makes the Log write to f from now on (the forward's local port
// changed), closing the previous file.
func (l *Log) SetFile(f *File) {
	if old := l.file.Swap(f); old != nil && old != f {
		old.Close()
	}
}

// SetRedact turns redaction of sensitive headers on or off, for what is
// shown from now on.
func (l *Log) SetRedact(on bool) { l.redact.Store(on) }

// Stats are a Log's state and counters.
type Stats struct {
	Enabled, Redact bool
	Exchanges       int64 // recorded
	// DroppedConns counts connections not logged, or cut short, because
	// the log fell behind; DroppedBytes their bytes.
	DroppedConns, DroppedBytes int64
	Errors                     int64 // connections whose logging a parse error ended
	File                       string
}

// Redact reports whether sensitive headers are hidden.
func (l *Log) Redact() bool { return l.redact.Load() }

// Status reports the Log's counters.
func (l *Log) Status() Stats {
	l.asyncMu.Lock()
	s, on := l.base, l.async != nil
	if l.async != nil {
		as := l.async.Stats()
		s.LostConns += as.LostConns
		s.DroppedBytes += as.DroppedBytes
	}
	l.asyncMu.Unlock()
	st := Stats{Enabled: on, Redact: l.redact.Load(), Exchanges: l.exchanges.Load(),
		DroppedConns: s.LostConns, DroppedBytes: s.DroppedBytes, Errors: l.parseErrors.Load()}
	if f := l.file.Load(); f != nil {
		st.File = f.Path()
	}
	return st
}

// Open is the parser side of the Async: one Conn per connection.
func (l *Log) Open(info inspect.ConnInfo) inspect.Conn {
	return NewConn(info, l, ParseOptions{BodyCap: l.opts.BodyCap, Now: l.opts.Now})
}

// ParseError counts a connection whose logging stopped.
func (l *Log) ParseError(info inspect.ConnInfo, err error) {
	l.parseErrors.Add(1)
	l.opts.Log.Debug().Int64("forward", l.opts.ForwardID).Int64("conn", info.ID).Err(err).Msg("http log: parse error, the rest of the connection is not logged")
}

// Exchange records a finished exchange: ring, file, subscribers.
func (l *Log) Exchange(e *Exchange) {
	e.Forward = l.opts.ForwardID
	e.TraceID = newTraceID()
	e.setDisplay(l.opts.BodyCap)
	l.mu.Lock()
	// A replay's connection comes from the address Replay registered
	// before it sent anything.
	wait := l.replays[e.client]
	if wait != nil && e.client != "" {
		e.Replay, e.ReplayOf = true, wait.of
	} else {
		wait = nil
	}
	l.nextID++
	e.ID = l.nextID
	l.ring = append(l.ring, e)
	l.ringBytes += e.size()
	for len(l.ring) > 1 && (len(l.ring) > l.opts.RingSize || l.ringBytes > l.opts.RingBytes) {
		l.ringBytes -= l.ring[0].size()
		l.ring[0] = nil
		l.ring = l.ring[1:]
	}
	l.mu.Unlock()
	l.exchanges.Add(1)
	redact := l.redact.Load()
	if f := l.file.Load(); f != nil {
		if err := f.Write(formatREST(e, redact)); err != nil {
			l.opts.Log.Warn().Err(err).Int64("forward", l.opts.ForwardID).Msg("http log: writing the .http file")
		}
	}
	if l.opts.Publish != nil {
		l.opts.Publish(e)
	}
	if wait != nil {
		select {
		case wait.done <- e:
		default:
		}
	}
}

// Recent returns the recent exchanges that pass match (nil: all), oldest
// first; limit > 0 keeps the last limit of them.
func (l *Log) Recent(match func(*Exchange) bool, limit int) []*Exchange {
	l.mu.Lock()
	ring := append([]*Exchange(nil), l.ring...)
	l.mu.Unlock()
	out := ring[:0]
	for _, e := range ring {
		if match == nil || match(e) {
			out = append(out, e)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// Get finds a recent exchange, nil when the ring no longer holds it.
func (l *Log) Get(id int64) *Exchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.ring {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// Forget empties the ring (after a purge).
func (l *Log) Forget() {
	l.mu.Lock()
	l.ring, l.ringBytes = nil, 0
	l.mu.Unlock()
}

// newTraceID is a random (version 4) UUID, as kftray's trace ids are.
func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:36], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}
