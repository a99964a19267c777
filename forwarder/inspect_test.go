package forwarder

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// connLog is an Inspector that records each connection's calls.
type connLog struct {
	mu    sync.Mutex
	conns []*connRecord
}

type connRecord struct {
	info   inspect.ConnInfo
	log    *connLog
	events []string // consecutive chunks of one direction are one event
	client []byte
	server []byte
	closed bool
	err    error
}

func (l *connLog) Open(info inspect.ConnInfo) inspect.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &connRecord{info: info, log: l}
	l.conns = append(l.conns, r)
	return r
}

func (l *connLog) snapshot() []connRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]connRecord, len(l.conns))
	for i, r := range l.conns {
		out[i] = *r
		out[i].events = append([]string(nil), r.events...)
	}
	return out
}

func (r *connRecord) add(e string) {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	if n := len(r.events); n == 0 || r.events[n-1] != e || (e != "client" && e != "server") {
		r.events = append(r.events, e)
	}
}

func (r *connRecord) Attempt(a inspect.Attempt) { r.add("attempt " + a.Pod) }
func (r *connRecord) Discard(error)             { r.add("discard") }

func (r *connRecord) ClientBytes(p []byte) {
	r.add("client")
	r.log.mu.Lock()
	r.client = append(r.client, p...)
	r.log.mu.Unlock()
}

func (r *connRecord) ServerBytes(p []byte) {
	r.add("server")
	r.log.mu.Lock()
	r.server = append(r.server, p...)
	r.log.mu.Unlock()
}

func (r *connRecord) Close(err error) {
	r.add("close")
	r.log.mu.Lock()
	r.closed, r.err = true, err
	r.log.mu.Unlock()
}

// An inspector set on a running forward sees the connections accepted from
// then on, each whole and once, including one replayed on another pod
// after a refusal, agrees with the counters, and can be turned off again.
func TestForwardInspector(t *testing.T) {
	w, f, addr := stuckOnWeb1(t) // connection 1: before the inspector
	base := waitState(t, f, "first connection done", func(s State) bool { return s.ActiveConns == 0 })

	insp := &connLog{}
	f.SetInspector(insp)
	w.srv.DeletePod(ns, "web-1", false)
	release := w.srv.Hold(ns, "web-1")
	defer release()
	payload := "GET / HTTP/1.1\r\nHost: web\r\n\r\n"
	send := func(afterSend func()) net.Addr {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write([]byte(payload))
		c.(*net.TCPConn).CloseWrite()
		afterSend()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "web-2\n"+payload {
			t.Fatalf("connection: %q, %v", got, err)
		}
		return c.LocalAddr()
	}
	// Connection 2 is refused by web-1 once its bytes went there, and
	// replayed on web-2; connection 3 goes to web-2 directly.
	client2 := send(func() {
		waitState(t, f, "bytes sent to web-1", func(s State) bool { return s.BytesToPod > base.BytesToPod })
		release()
	})
	send(func() {})
	st := waitState(t, f, "connections done", func(s State) bool { return s.ActiveConns == 0 })

	// Turned off: connection 4 is not inspected.
	f.SetInspector(nil)
	if name, c, _ := hello(t, addr); name != "web-2" {
		t.Fatalf("served by %q", name)
	} else {
		c.Close()
	}

	conns := insp.snapshot()
	if len(conns) != 2 {
		t.Fatalf("inspector opened %d connections, want 2 (accepted while it was set)", len(conns))
	}
	for i, want := range []string{
		"[attempt web-1 client discard attempt web-2 server close]",
		"[attempt web-2 client server close]",
	} {
		r := conns[i]
		if got := fmt.Sprint(r.events); got != want {
			t.Errorf("connection %d: calls %s, want %s", r.info.ID, got, want)
		}
		if string(r.client) != payload || string(r.server) != "web-2\n"+payload || r.err != nil {
			t.Errorf("connection %d: client bytes %q, server bytes %q, closed with %v; want each once, and nil", r.info.ID, r.client, r.server, r.err)
		}
		if r.info.ForwardID != 1 || r.info.Forward != "web-1" || r.info.ID != int64(i+2) || r.info.Start.IsZero() || r.info.Local.String() != addr {
			t.Errorf("connection info %+v: want forward 1 (web-1), connection %d, its start, local address %s", r.info, i+2, addr)
		}
	}
	if got := conns[0].info.Client.String(); got != client2.String() {
		t.Errorf("client address %s, want %s", got, client2)
	}
	// The counters count what the inspector saw.
	var seenTo, seenFrom int
	for _, r := range conns {
		seenTo += len(r.client)
		seenFrom += len(r.server)
	}
	if to, from := st.BytesToPod-base.BytesToPod, st.BytesFromPod-base.BytesFromPod; to != int64(seenTo) || from != int64(seenFrom) {
		t.Errorf("counters %d to the pod and %d from it; the inspector saw %d and %d", to, from, seenTo, seenFrom)
	}
}

// A connection that finds no pod within ConnWait closes its inspector with
// the reason.
func TestForwardInspectorNoPod(t *testing.T) {
	w := newWorld(t)
	w.endpoints() // no ready pod
	opts := w.options()
	opts.ConnWait = 100 * time.Millisecond
	m := NewManager(opts)
	defer m.StopAll()
	if err := m.Start(t.Context(), webConfig(1)); err != nil {
		t.Fatal(err)
	}
	f := m.Forward(1)
	insp := &connLog{}
	f.SetInspector(insp)
	c, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read: %v, want EOF after ConnWait", err)
	}
	waitState(t, f, "connection closed", func(s State) bool { return s.ActiveConns == 0 })
	conns := insp.snapshot()
	if len(conns) != 1 || fmt.Sprint(conns[0].events) != "[close]" || conns[0].err == nil {
		t.Fatalf("inspector saw %+v, want one connection closed with a reason", conns)
	}
	if got := conns[0].err.Error(); !strings.HasPrefix(got, "no connection to a pod within 100ms: ") {
		t.Errorf("close reason %q, want it to say there was no connection to a pod", got)
	}
}

// Options.Inspector gives a forward its inspector before it accepts: the
// very first connection is inspected, with no window after Start.
func TestForwardOptionsInspector(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	w.endpoints("web-1")
	insp := &connLog{}
	var asked []string
	opts := w.options()
	opts.Inspector = func(id int64, local net.Addr) inspect.Inspector {
		asked = append(asked, fmt.Sprintf("%d %v", id, local != nil))
		return insp
	}
	_, f := startWeb(t, w, opts)
	if name, c, _ := hello(t, f.Addr().String()); name != "web-1" {
		t.Fatalf("served by %q", name)
	} else {
		c.Close()
	}
	waitState(t, f, "connection done", func(s State) bool { return s.ActiveConns == 0 })
	if fmt.Sprint(asked) != "[1 true]" {
		t.Errorf("Options.Inspector called with %v, want once for config 1 with its address", asked)
	}
	if conns := insp.snapshot(); len(conns) != 1 || conns[0].info.ID != 1 {
		t.Fatalf("inspected %d connections, want the first one", len(conns))
	}
}
