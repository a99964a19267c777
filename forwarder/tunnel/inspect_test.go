package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// recorder is an inspect.Conn that keeps what it is shown.
type recorder struct {
	// When set, sawClient is closed once clientWant bytes from the client
	// were shown.
	clientWant int
	sawClient  chan struct{}

	mu     sync.Mutex
	events []string // "attempt web-1", "client", "server", "discard", "close"
	client bytes.Buffer
	server bytes.Buffer
	atts   []inspect.Attempt
	errs   []error // Discard's
}

func (r *recorder) add(e string) {
	if n := len(r.events); n > 0 && r.events[n-1] == e && (e == "client" || e == "server") {
		return // consecutive chunks of one direction are one event
	}
	r.events = append(r.events, e)
}

func (r *recorder) Attempt(a inspect.Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.atts = append(r.atts, a)
	r.add("attempt " + a.Pod)
}

func (r *recorder) ClientBytes(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.client.Write(p)
	r.add("client")
	if r.sawClient != nil && r.client.Len() == r.clientWant {
		close(r.sawClient)
	}
}

func (r *recorder) ServerBytes(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.server.Write(p)
	r.add("server")
}

func (r *recorder) Discard(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
	r.add("discard")
}

func (r *recorder) Close(error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add("close")
}

func (r *recorder) snapshot() (events []string, client, server string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), r.client.String(), r.server.String()
}

type oneConn struct{ c inspect.Conn }

func (o oneConn) Open(inspect.ConnInfo) inspect.Conn { return o.c }

// The first pod's kubelet refuses the connection after the client's bytes
// were read and sent to it; the connection is replayed on the second pod.
// The inspector sees the client's bytes once, before the Discard, and not
// again when they are re-sent; the counters count them once.
func TestReplayInspectedAndCountedOnce(t *testing.T) {
	srv := startServer(t)
	startPod(t, srv, "web-1")
	startPod(t, srv, "web-2")
	c1, c2 := dialPod(t, srv, "web-1"), dialPod(t, srv, "web-2")
	// web-1 goes away on the node; its upgraded connection stays up and
	// the kubelet refuses new streams to it, once the test lets it answer.
	srv.DeletePod("default", "web-1", false)
	release := srv.Hold("default", "web-1")
	defer release()

	client, server := tcpPair(t)
	defer client.Close()
	payload := strings.Repeat("sent before any answer;", 100)
	if _, err := client.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	client.(*net.TCPConn).CloseWrite()

	rec := &recorder{clientWant: len(payload), sawClient: make(chan struct{})}
	ic := inspect.Open(oneConn{rec}, inspect.ConnInfo{ID: 1})
	local := NewLocal(server)
	local.Inspect(ic)
	var counters Counters

	first := make(chan error, 1)
	go func() { first <- c1.Forward(context.Background(), local, 8080, &counters) }()
	// The first attempt reads all the client sent and sends it to web-1;
	// only then does web-1's kubelet refuse, so the replay must re-send it.
	select {
	case <-rec.sawClient:
	case err := <-first:
		t.Fatalf("first attempt ended before reading the client's bytes: %v", err)
	}
	release()
	err := <-first
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("first pod: Forward = %v, want a refusal", err)
	}
	if got := counters.ToPod.Load(); got != int64(len(payload)) {
		t.Fatalf("after the refused attempt %d bytes counted to the pod, want %d (all of what the client sent, read once)", got, len(payload))
	}
	if err := c2.Forward(context.Background(), local, 8080, &counters); err != nil {
		t.Fatalf("second pod: Forward = %v", err)
	}
	ic.Close(nil)
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "web-2\n"+payload {
		t.Fatalf("client got %q, %v", got, err)
	}

	events, seenClient, seenServer := rec.snapshot()
	want := []string{"attempt web-1", "client", "discard", "attempt web-2", "server", "close"}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("inspector events %q, want %q", events, want)
	}
	if seenClient != payload {
		t.Errorf("inspector saw %d client bytes, want the %d the client sent, once", len(seenClient), len(payload))
	}
	if seenServer != "web-2\n"+payload {
		t.Errorf("inspector saw server bytes %q", seenServer)
	}
	if len(rec.atts) != 2 || rec.atts[0].N != 1 || rec.atts[1].N != 2 || rec.atts[1].Port != 8080 || rec.atts[1].Namespace != "default" {
		t.Errorf("attempts %+v", rec.atts)
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0].Error(), "not found") {
		t.Errorf("discard reasons %v, want the kubelet's refusal", rec.errs)
	}
	if to, from := counters.ToPod.Load(), counters.FromPod.Load(); to != int64(len(payload)) || from != int64(len(got)) {
		t.Errorf("counters: %d to the pod, %d from it; want %d and %d", to, from, len(payload), len(got))
	}
}

// nopConn is an inspector that does nothing, to measure the hook's cost.
type nopConn struct{}

func (nopConn) Attempt(inspect.Attempt) {}
func (nopConn) ClientBytes([]byte)      {}
func (nopConn) ServerBytes([]byte)      {}
func (nopConn) Discard(error)           {}
func (nopConn) Close(error)             {}

// Reading from the client and writing to it (with counting, replay
// bookkeeping done, and with or without an inspector) allocates nothing.
func TestCopyPathDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name string
		ic   inspect.Conn
	}{
		{"no inspector", nil},
		{"inspector", inspect.Open(oneConn{nopConn{}}, inspect.ConnInfo{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLocal(&feedConn{left: 1 << 30})
			l.counters = &Counters{}
			l.answered.Store(true) // the pod answered: nothing more is kept for a replay
			if tc.ic != nil {
				l.Inspect(tc.ic)
			}
			buf := make([]byte, benchChunk)
			w := answerWriter{l}
			allocs := testing.AllocsPerRun(1000, func() {
				n, _ := l.Read(buf)
				w.Write(buf[:n])
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per read and write, want 0", allocs)
			}
		})
	}
}

// slowConn blocks on every call until release is closed (an inspector
// that breaks the contract), and reports how it was closed.
type slowConn struct {
	release chan struct{}
	closed  chan error
}

func (s slowConn) Attempt(inspect.Attempt) { <-s.release }
func (s slowConn) ClientBytes([]byte)      { <-s.release }
func (s slowConn) ServerBytes([]byte)      { <-s.release }
func (s slowConn) Discard(error)           { <-s.release }
func (s slowConn) Close(err error)         { <-s.release; s.closed <- err }

// A hook that blocks stalls its own connection (the contract forbids it);
// the same hook behind inspect.NewAsync does not.
func TestSlowInspectorBehindAsyncDoesNotStall(t *testing.T) {
	srv := startServer(t)
	startPod(t, srv, "web-1")
	c := dialPod(t, srv, "web-1")
	slow := slowConn{release: make(chan struct{}), closed: make(chan error, 1)}
	var once sync.Once
	release := func() { once.Do(func() { close(slow.release) }) }
	async := inspect.NewAsync(oneConn{slow}, inspect.Limits{Events: 16, Bytes: 256 << 10})
	t.Cleanup(async.Close)
	t.Cleanup(release) // runs first
	client, server := tcpPair(t)
	defer client.Close()
	ic := inspect.Open(async, inspect.ConnInfo{ID: 1})
	local := NewLocal(server)
	local.Inspect(ic)
	done := make(chan error, 1)
	go func() { done <- c.Forward(context.Background(), local, 8080, nil) }()

	payload := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB, 16 times the queue
	go func() {
		client.Write(payload)
		client.(*net.TCPConn).CloseWrite()
	}()
	client.SetReadDeadline(time.Now().Add(60 * time.Second)) // a hang fails, not a slow machine
	got, err := io.ReadAll(client)
	if err != nil || !bytes.Equal(got, append([]byte("web-1\n"), payload...)) {
		t.Fatalf("echo through a connection with a stalled inspector: %d bytes, %v", len(got), err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Forward: %v", err)
	}
	ic.Close(nil)
	st := async.Stats()
	if st.Conns != 1 || st.LostConns != 1 || st.DroppedBytes == 0 {
		t.Fatalf("stats %+v: want the one connection lost and its bytes dropped", st)
	}
	// Once it wakes up, the inspector learns that it missed the rest.
	release()
	if err := <-slow.closed; !errors.Is(err, inspect.ErrFellBehind) {
		t.Fatalf("inspector closed with %v, want ErrFellBehind", err)
	}
}
