package udprelay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder/udprelay"
	"github.com/kftray-go/kftray/relayserver"
)

const wait = 10 * time.Second

// world is a real kftray-server in udp mode on loopback TCP, a real UDP
// upstream behind it, and a Client on a local UDP socket whose streams are
// plain TCP connections to the relay (in the product they are port-forward
// streams to the relay pod).
type world struct {
	t      *testing.T
	relay  *relayserver.Server
	client *udprelay.Client
	local  string // the client's local UDP address

	mu      sync.Mutex
	streams []net.Conn
	opens   atomic.Int32
	failN   atomic.Int32 // fail this many opens first
}

func newWorld(t testing.TB, reply func(req []byte) [][]byte, opts udprelay.Options, failFirst ...int) *world {
	up := startUDPUpstream(t, reply)
	relay, err := relayserver.New(relayserver.Config{Mode: relayserver.ModeUDP, RemoteAddress: "127.0.0.1", RemotePort: up},
		zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Serve(ctx, ln) }()

	w := &world{relay: relay}
	if len(failFirst) > 0 {
		w.failN.Store(int32(failFirst[0]))
	}
	if tt, ok := t.(*testing.T); ok {
		w.t = tt
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	w.local = pc.LocalAddr().String()
	open := func(ctx context.Context) (io.ReadWriteCloser, error) {
		w.opens.Add(1)
		if w.failN.Add(-1) >= 0 {
			return nil, errors.New("relay pod not ready (test)")
		}
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		w.mu.Lock()
		w.streams = append(w.streams, c)
		w.mu.Unlock()
		return c, nil
	}
	opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Millisecond
	}
	w.client = udprelay.New(pc, open, opts)
	clientDone := make(chan error, 1)
	go func() { clientDone <- w.client.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-clientDone; err != nil {
			t.Errorf("client Run: %v", err)
		}
		if err := <-relayDone; err != nil {
			t.Errorf("relay Serve: %v", err)
		}
	})
	return w
}

// breakStream closes the client's current stream under it, as a dying
// relay pod or port-forward would.
func (w *world) breakStream() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.streams[len(w.streams)-1].Close()
}

func startUDPUpstream(t testing.TB, reply func(req []byte) [][]byte) int {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 70000)
		for {
			n, src, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			for _, r := range reply(buf[:n]) {
				conn.WriteToUDPAddrPort(r, src)
			}
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).Port
}

func echo(req []byte) [][]byte { return [][]byte{req} }

// peer is a local application's UDP socket talking to the forward.
type peer struct {
	t *testing.T
	c net.Conn
}

func (w *world) peer() *peer {
	c, err := net.Dial("udp", w.local)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return &peer{t: w.t, c: c}
}

func (p *peer) send(s string) {
	p.t.Helper()
	if _, err := p.c.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) recv() string {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 70000)
	n, err := p.c.Read(buf)
	if err != nil {
		p.t.Fatalf("no datagram for local peer %s: %v", p.c.LocalAddr(), err)
	}
	return string(buf[:n])
}

// ask sends until an answer comes: the first datagram may race the first
// stream, and UDP may drop; a bounded number of retries is what a DNS
// client does too.
func (p *peer) ask(q string) string {
	p.t.Helper()
	buf := make([]byte, 70000)
	for range 20 {
		p.send(q)
		p.c.SetReadDeadline(time.Now().Add(wait / 20))
		if n, err := p.c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	p.t.Fatalf("no answer to %q", q)
	return ""
}

func TestDNSStyleRequestResponse(t *testing.T) {
	w := newWorld(t, func(req []byte) [][]byte { return [][]byte{append([]byte("answer:"), req...)} }, udprelay.Options{})
	p := w.peer()
	for _, q := range []string{"A web.dev.test", "AAAA web.dev.test", "SRV _http._tcp.dev.test"} {
		if got := p.ask(q); got != "answer:"+q {
			t.Fatalf("asked %q, got %q", q, got)
		}
	}
	big := strings.Repeat("q", 65507-len("answer:"))
	if got := p.ask(big); len(got) != 65507 {
		t.Fatalf("largest datagram: got %d bytes back", len(got))
	}
	// Counters move just after the datagram is handed over; allow a moment.
	for deadline := time.Now().Add(wait); ; time.Sleep(time.Millisecond) {
		st := w.client.Stats()
		if st.Connected && st.Flows == 1 && st.Sent >= 4 && st.Received >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats: %+v", st)
		}
	}
}

func TestPeersGetOnlyTheirOwnReplies(t *testing.T) {
	w := newWorld(t, func(req []byte) [][]byte {
		// Three replies per request, tagged with the request.
		return [][]byte{append([]byte("1 "), req...), append([]byte("2 "), req...), append([]byte("3 "), req...)}
	}, udprelay.Options{})
	a, b := w.peer(), w.peer()
	a.ask("from a 0")
	a.recv()
	a.recv()
	b.ask("from b 0")
	b.recv()
	b.recv()
	const rounds = 50
	var wg sync.WaitGroup
	for _, p := range []struct {
		name string
		p    *peer
	}{{"a", a}, {"b", b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				p.p.c.Write([]byte(fmt.Sprintf("from %s %d", p.name, i+1)))
			}
		}()
	}
	wg.Wait()
	for _, p := range []struct {
		name string
		p    *peer
	}{{"a", a}, {"b", b}} {
		for range 3 * rounds {
			got := p.p.recv()
			if !strings.Contains(got, "from "+p.name+" ") {
				t.Fatalf("peer %s received %q, meant for another peer", p.name, got)
			}
		}
	}
	if st := w.client.Stats(); st.Flows != 2 {
		t.Fatalf("flows = %d, want 2", st.Flows)
	}
}

func TestStreamOfRepliesToOneRequest(t *testing.T) {
	w := newWorld(t, func(req []byte) [][]byte {
		n, _ := strconv.Atoi(string(req))
		out := make([][]byte, n)
		for i := range out {
			out[i] = []byte("reply " + strconv.Itoa(i))
		}
		return out
	}, udprelay.Options{})
	p := w.peer()
	if got := p.ask("1"); got != "reply 0" {
		t.Fatalf("got %q", got)
	}
	p.send("40")
	for i := range 40 {
		if got := p.recv(); got != "reply "+strconv.Itoa(i) {
			t.Fatalf("reply %d: got %q", i, got)
		}
	}
}

func TestReconnectsWhenStreamBreaks(t *testing.T) {
	var states []bool
	var mu sync.Mutex
	w := newWorld(t, echo, udprelay.Options{OnState: func(up bool, err error) {
		mu.Lock()
		states = append(states, up)
		mu.Unlock()
	}})
	p := w.peer()
	if got := p.ask("before"); got != "before" {
		t.Fatalf("got %q", got)
	}
	w.breakStream()
	if got := p.ask("after"); got != "after" {
		t.Fatalf("after reconnect: got %q", got)
	}
	if st := w.client.Stats(); st.Reconnects != 1 {
		t.Fatalf("reconnects = %d, want 1 (stats %+v)", st.Reconnects, st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(states) < 3 || !states[0] || states[1] || !states[len(states)-1] {
		t.Fatalf("state changes %v, want up, down, ..., up", states)
	}
}

func TestRetriesUntilRelayIsReachable(t *testing.T) {
	var mu sync.Mutex
	var errs []string
	w := newWorld(t, echo, udprelay.Options{OnState: func(up bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err.Error())
		}
	}}, 3)
	p := w.peer()
	if got := p.ask("hello"); got != "hello" {
		t.Fatalf("got %q", got)
	}
	if n := w.opens.Load(); n < 4 {
		t.Fatalf("opened %d streams, want at least 4 (3 failures then success)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) < 3 || !strings.Contains(errs[0], "relay pod not ready") {
		t.Fatalf("state errors %q, want the open failures reported", errs)
	}
}

func TestIdlePeersAreForgottenOnBothSides(t *testing.T) {
	w := newWorld(t, echo, udprelay.Options{IdleTimeout: 50 * time.Millisecond})
	p := w.peer()
	if got := p.ask("hi"); got != "hi" {
		t.Fatalf("got %q", got)
	}
	// Bounded wait for expiry: the client forgets the peer and tells the
	// relay, which closes the flow's upstream socket.
	deadline := time.Now().Add(wait)
	for w.client.Stats().Flows != 0 || w.relay.Stats().Flows != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("flows not expired: client %+v relay %+v", w.client.Stats(), w.relay.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := p.ask("again"); got != "again" {
		t.Fatalf("after expiry: got %q", got)
	}
}

// A relay that sends garbage gets its stream closed and reopened; the
// client itself keeps running.
func TestBadRelayInputReopensStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// A valid header, then a frame claiming 65535 bytes.
			c.Write([]byte{'K', 'F', 'U', 1, 1, 0, 0, 0, 1, 0xff, 0xff})
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	pc, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	var opens atomic.Int32
	reopened := make(chan struct{})
	c := udprelay.New(pc, func(ctx context.Context) (io.ReadWriteCloser, error) {
		if opens.Add(1) == 3 {
			close(reopened)
		}
		return (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	}, udprelay.Options{MinBackoff: time.Millisecond, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-reopened:
	case <-time.After(wait):
		t.Fatal("client did not reopen the stream after bad input")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestWrongRelayVersionIsReported(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte{'K', 'F', 'U', 9})
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	pc, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	got := make(chan error, 10)
	c := udprelay.New(pc, func(ctx context.Context) (io.ReadWriteCloser, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	}, udprelay.Options{MinBackoff: time.Millisecond, Logger: zerolog.Nop(), OnState: func(up bool, err error) {
		select {
		case got <- err:
		default:
		}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	select {
	case err := <-got:
		if err == nil || !strings.Contains(err.Error(), "version 9") {
			t.Fatalf("got %v, want the version mismatch named", err)
		}
	case <-time.After(wait):
		t.Fatal("no state report")
	}
}

// PipeStream is how the engine plugs in: a function that copies between a
// net.Conn and the relay's port. Here that function dials the relay over TCP
// and copies, as tunnel.Conn.Forward does over a port-forward stream.
func TestPipeStream(t *testing.T) {
	up := startUDPUpstream(t, echo)
	relay, _ := relayserver.New(relayserver.Config{Mode: relayserver.ModeUDP, RemoteAddress: "127.0.0.1", RemotePort: up}, zerolog.Nop())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go relay.Serve(ctx, ln)

	var forwards atomic.Int32
	open := udprelay.PipeStream(func(ctx context.Context, local net.Conn) error {
		forwards.Add(1)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		go io.Copy(c, local)
		_, err = io.Copy(local, c)
		return err
	})
	pc, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	client := udprelay.New(pc, open, udprelay.Options{MinBackoff: time.Millisecond, Logger: zerolog.Nop()})
	go client.Run(ctx)
	w := &world{t: t, local: pc.LocalAddr().String()}
	p := w.peer()
	if got := p.ask("through a pipe"); got != "through a pipe" {
		t.Fatalf("got %q", got)
	}
	if n := forwards.Load(); n != 1 {
		t.Fatalf("%d forwards started, want 1", n)
	}
}
