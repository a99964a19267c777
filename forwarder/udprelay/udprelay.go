// Package udprelay is the forwarder's side of a UDP forward: a local UDP
// socket whose peers become flows over one stream to a kftray-server relay
// in udp mode (package relaywire is the wire format). Each local peer
// (source address) is its own flow, so replies go only to the peer that owns
// the flow, and any number of them may come back. When the stream breaks, the
// client reopens it with capped exponential backoff; the engine decides what
// a stream is (a port-forward stream to the relay pod) through OpenStream.
package udprelay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/relaywire"
)

// OpenStream opens a new byte stream to the relay's port. Closing the stream
// must unblock its Read.
type OpenStream func(ctx context.Context) (io.ReadWriteCloser, error)

// Options tune a Client. Zero values mean the defaults.
type Options struct {
	// IdleTimeout forgets a local peer after this long without traffic
	// either way (the relay has its own, default 2 minutes).
	IdleTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed attempts to
	// open the stream.
	MinBackoff, MaxBackoff time.Duration
	// HandshakeTimeout bounds waiting for the relay's stream header.
	HandshakeTimeout time.Duration
	// ConnectWait is how long a datagram that arrives while no stream is up
	// waits for one before it is dropped.
	ConnectWait time.Duration
	// OnState, if set, hears every change: connected true once a stream is
	// up, false with the reason when it breaks or cannot be opened.
	OnState func(connected bool, err error)
	Logger  zerolog.Logger
}

func (o *Options) setDefaults() {
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.ConnectWait == 0 {
		o.ConnectWait = 2 * time.Second
	}
}

// Stats are a Client's counters.
type Stats struct {
	Sent       uint64 // datagrams from local peers sent to the relay
	Received   uint64 // datagrams from the relay delivered to local peers
	Dropped    uint64 // datagrams lost locally: no stream, oversize, or flow gone
	Reconnects uint64 // streams opened after the first
	Flows      int    // local peers currently known
	Connected  bool
}

// Client relays one local UDP socket through the relay.
type Client struct {
	pc   net.PacketConn
	udp  *net.UDPConn // pc, when it is one: lets the hot path avoid allocations
	open OpenStream
	opts Options
	log  zerolog.Logger

	mu      sync.Mutex
	cur     *session
	changed chan struct{} // closed and replaced whenever cur changes

	nextID                              atomic.Uint32
	sent, received, dropped, reconnects atomic.Uint64
}

// New returns a Client for pc. Run serves it.
func New(pc net.PacketConn, open OpenStream, opts Options) *Client {
	opts.setDefaults()
	c := &Client{pc: pc, open: open, opts: opts, log: opts.Logger, changed: make(chan struct{})}
	c.udp, _ = pc.(*net.UDPConn)
	return c
}

// Stats returns the current counters.
func (c *Client) Stats() Stats {
	st := Stats{Sent: c.sent.Load(), Received: c.received.Load(), Dropped: c.dropped.Load(), Reconnects: c.reconnects.Load()}
	c.mu.Lock()
	if s := c.cur; s != nil {
		st.Connected = true
		s.mu.Lock()
		st.Flows = len(s.byID)
		s.mu.Unlock()
	}
	c.mu.Unlock()
	return st
}

// Run serves until ctx ends, then closes the stream and pc and returns nil.
// It returns early only if pc fails.
func (c *Client) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	localErr := make(chan error, 1)
	go func() {
		err := c.readLocal(ctx)
		cancel()
		localErr <- err
	}()
	defer c.pc.Close()

	backoff := c.opts.MinBackoff
	first := true
	for ctx.Err() == nil {
		s, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			wait := backoff/2 + rand.N(backoff/2+1) // jitter: many forwards must not redial in step
			c.log.Warn().Err(err).Dur("retry_in", wait).Msg("cannot open the UDP relay stream")
			c.notify(false, err)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			backoff = min(backoff*2, c.opts.MaxBackoff)
			continue
		}
		backoff = c.opts.MinBackoff
		if !first {
			c.reconnects.Add(1)
		}
		first = false
		c.setSession(s)
		c.notify(true, nil)
		c.log.Debug().Msg("UDP relay stream up")
		err = s.serve(ctx)
		c.setSession(nil)
		if ctx.Err() == nil {
			c.log.Info().Err(err).Msg("UDP relay stream lost; reopening")
			c.notify(false, err)
		}
	}
	c.pc.Close() // unblocks readLocal
	if err := <-localErr; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func (c *Client) notify(up bool, err error) {
	if c.opts.OnState != nil {
		c.opts.OnState(up, err)
	}
}

func (c *Client) setSession(s *session) {
	c.mu.Lock()
	c.cur = s
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// session returns the current stream, waiting up to ConnectWait for one.
func (c *Client) session(ctx context.Context) *session {
	var timer *time.Timer
	for {
		c.mu.Lock()
		s, changed := c.cur, c.changed
		c.mu.Unlock()
		if s != nil {
			return s
		}
		if timer == nil {
			timer = time.NewTimer(c.opts.ConnectWait)
			defer timer.Stop()
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// connect opens a stream and exchanges stream headers with the relay.
func (c *Client) connect(ctx context.Context) (*session, error) {
	rw, err := c.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open stream to the relay: %w", err)
	}
	// io.ReadWriteCloser has no deadlines: bound the handshake by closing.
	t := time.AfterFunc(c.opts.HandshakeTimeout, func() { rw.Close() })
	err = relaywire.WriteStreamHeader(rw)
	if err == nil {
		err = relaywire.ReadStreamHeader(rw)
	}
	if !t.Stop() && err != nil {
		err = fmt.Errorf("relay did not answer within %s (is the relay in udp mode?): %w", c.opts.HandshakeTimeout, err)
	}
	if err != nil {
		rw.Close()
		return nil, err
	}
	return &session{c: c, rw: rw, w: relaywire.NewWriter(rw),
		byPeer: make(map[netip.AddrPort]*flow), byID: make(map[uint32]*flow)}, nil
}

// readLocal reads datagrams from local peers and sends each over the current
// stream as a frame of the peer's flow. It reads straight into the frame
// buffer, so a datagram is never copied.
func (c *Client) readLocal(ctx context.Context) error {
	buf := make([]byte, relaywire.MaxFrameLen+1) // +1 detects datagrams over the limit
	payload := buf[relaywire.HeaderLen:]
	for {
		var (
			n    int
			peer netip.AddrPort
			err  error
		)
		if c.udp != nil {
			n, peer, err = c.udp.ReadFromUDPAddrPort(payload)
		} else {
			var a net.Addr
			n, a, err = c.pc.ReadFrom(payload)
			if err == nil {
				peer, err = addrPort(a)
			}
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read local UDP socket %s: %w", c.pc.LocalAddr(), err)
		}
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		if n > relaywire.MaxPayload {
			c.dropped.Add(1)
			c.log.Warn().Stringer("peer", peer).Msg("local datagram over 65507 bytes dropped")
			continue
		}
		s := c.session(ctx)
		if s == nil {
			c.dropped.Add(1)
			continue
		}
		if err := s.send(buf, peer, n); err != nil {
			c.dropped.Add(1)
			s.fail(err)
			continue
		}
		c.sent.Add(1)
	}
}

func addrPort(a net.Addr) (netip.AddrPort, error) {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort(), nil
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("local peer address %q: %w", a, err)
	}
	return ap, nil
}

// session is one open stream and the flows on it. Flows do not outlive their
// stream: the relay's upstream sockets died with it.
type session struct {
	c  *Client
	rw io.ReadWriteCloser
	w  *relaywire.Writer

	mu     sync.Mutex
	byPeer map[netip.AddrPort]*flow
	byID   map[uint32]*flow

	failOnce sync.Once
	failErr  error
}

type flow struct {
	id   uint32
	peer netip.AddrPort
	addr net.Addr // peer as a net.Addr, made once, for non-UDPConn sockets
	last time.Time
}

func (s *session) send(buf []byte, peer netip.AddrPort, n int) error {
	now := time.Now()
	s.mu.Lock()
	f, ok := s.byPeer[peer]
	if !ok {
		f = &flow{id: s.c.nextID.Add(1), peer: peer, addr: net.UDPAddrFromAddrPort(peer)}
		s.byPeer[peer] = f
		s.byID[f.id] = f
		s.c.log.Debug().Uint32("flow", f.id).Stringer("peer", peer).Msg("new UDP flow")
	}
	f.last = now
	id := f.id
	s.mu.Unlock()
	return s.w.WriteData(buf, id, n)
}

// fail closes the stream once; serve then returns err.
func (s *session) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		s.rw.Close()
	})
}

// serve delivers the relay's datagrams to their peers until the stream ends.
func (s *session) serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.fail(ctx.Err()) })
	defer stop()
	defer s.w.Close()
	done := make(chan struct{})
	defer close(done)
	go s.expireIdle(done)

	r := relaywire.NewReader(s.rw)
	for {
		fr, err := r.Next()
		if err != nil {
			s.fail(err)
			if errors.Is(err, relaywire.ErrProtocol) {
				s.c.log.Warn().Err(err).Msg("closing UDP relay stream: bad input from the relay")
			}
			if s.failErr != nil && !errors.Is(s.failErr, err) {
				return s.failErr
			}
			if errors.Is(err, io.EOF) {
				return errors.New("relay closed the stream")
			}
			return err
		}
		s.mu.Lock()
		f := s.byID[fr.Flow]
		if f != nil && fr.Type == relaywire.FrameClose {
			delete(s.byID, f.id)
			delete(s.byPeer, f.peer)
			f = nil
		}
		if f != nil {
			f.last = time.Now()
		}
		s.mu.Unlock()
		if fr.Type != relaywire.FrameData {
			continue
		}
		if f == nil {
			s.c.dropped.Add(1) // reply for a flow already forgotten
			continue
		}
		if s.c.udp != nil {
			_, err = s.c.udp.WriteToUDPAddrPort(fr.Payload, f.peer)
		} else {
			_, err = s.c.pc.WriteTo(fr.Payload, f.addr)
		}
		if err != nil {
			// The local peer went away; UDP is lossy, the flow will expire.
			s.c.dropped.Add(1)
			continue
		}
		s.c.received.Add(1)
	}
}

// expireIdle forgets peers idle for IdleTimeout and tells the relay to free
// their upstream sockets.
func (s *session) expireIdle(done <-chan struct{}) {
	idle := s.c.opts.IdleTimeout
	t := time.NewTicker(min(max(idle/4, 10*time.Millisecond), 15*time.Second))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			var expired []uint32
			s.mu.Lock()
			for id, f := range s.byID {
				if now.Sub(f.last) >= idle {
					expired = append(expired, id)
					delete(s.byID, id)
					delete(s.byPeer, f.peer)
				}
			}
			s.mu.Unlock()
			for _, id := range expired {
				if err := s.w.WriteClose(id); err != nil {
					s.fail(err)
					return
				}
			}
		}
	}
}
