package inspect

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// log is an Inspector whose Conns write every call to one shared list,
// as "id:call".
type log struct {
	mu    sync.Mutex
	calls []string
	// gate, when set, holds every call until it is closed.
	gate chan struct{}
}

func (l *log) add(id int64, s string) {
	if l.gate != nil {
		<-l.gate
	}
	l.mu.Lock()
	l.calls = append(l.calls, fmt.Sprintf("%d:%s", id, s))
	l.mu.Unlock()
}

func (l *log) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func (l *log) Open(info ConnInfo) Conn {
	l.add(info.ID, "open")
	return &logConn{l: l, id: info.ID}
}

type logConn struct {
	l  *log
	id int64
}

func (c *logConn) Attempt(a Attempt)    { c.l.add(c.id, "attempt "+a.Pod) }
func (c *logConn) ClientBytes(p []byte) { c.l.add(c.id, "client "+string(p)) }
func (c *logConn) ServerBytes(p []byte) { c.l.add(c.id, "server "+string(p)) }
func (c *logConn) Discard(err error)    { c.l.add(c.id, "discard "+err.Error()) }
func (c *logConn) Close(err error)      { c.l.add(c.id, fmt.Sprint("close ", err)) }

type nilInspector struct{}

func (nilInspector) Open(ConnInfo) Conn { return nil }

func TestOpen(t *testing.T) {
	if Open(nil, ConnInfo{}) != nil {
		t.Error("Open(nil) is not nil: the copy path would call a hook that is not there")
	}
	if Open(nilInspector{}, ConnInfo{}) != nil {
		t.Error("an inspector that declines a connection still gets a Conn")
	}
	l := &log{}
	c := Open(l, ConnInfo{ID: 1})
	c.ClientBytes([]byte("a"))
	c.Close(nil)
	// A copy goroutine still finishing after the connection closed.
	c.ServerBytes([]byte("late"))
	c.Close(errors.New("twice"))
	if got, want := fmt.Sprint(l.list()), "[1:open 1:client a 1:close <nil>]"; got != want {
		t.Errorf("calls %s, want %s: nothing after the first Close", got, want)
	}
}

// Calls from the two copy goroutines never overlap.
func TestOpenSerializes(t *testing.T) {
	var inside, overlaps int
	var mu sync.Mutex
	enter := func() {
		mu.Lock()
		inside++
		if inside > 1 {
			overlaps++
		}
		mu.Unlock()
	}
	leave := func() { mu.Lock(); inside--; mu.Unlock() }
	c := Open(funcInspector(func(p []byte) { enter(); leave() }), ConnInfo{})
	var wg sync.WaitGroup
	for _, f := range []func([]byte){c.ClientBytes, c.ServerBytes} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10000 {
				f([]byte("x"))
			}
		}()
	}
	wg.Wait()
	if overlaps != 0 {
		t.Fatalf("%d overlapping calls", overlaps)
	}
}

type funcInspector func([]byte)

func (f funcInspector) Open(ConnInfo) Conn { return funcConn(f) }

type funcConn func([]byte)

func (f funcConn) Attempt(Attempt)      {}
func (f funcConn) ClientBytes(p []byte) { f(p) }
func (f funcConn) ServerBytes(p []byte) { f(p) }
func (f funcConn) Discard(error)        {}
func (f funcConn) Close(error)          {}

// Async delivers every call, in order, with its own copy of each chunk.
func TestAsyncDelivers(t *testing.T) {
	l := &log{}
	a := NewAsync(l, Limits{})
	c1 := Open(a, ConnInfo{ID: 1})
	c2 := Open(a, ConnInfo{ID: 2})
	buf := []byte("GET / HTTP/1.1\r\n\r\n")
	c1.Attempt(Attempt{N: 1, Pod: "web-1"})
	c1.ClientBytes(buf)
	copy(buf, "XXX") // the copy loop reuses its buffer at once
	c1.Discard(errors.New("refused"))
	c1.Attempt(Attempt{N: 2, Pod: "web-2"})
	c2.Attempt(Attempt{N: 1, Pod: "web-2"})
	c1.ServerBytes([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	c1.Close(nil)
	c2.Close(errors.New("reset"))
	a.Close()
	want := []string{
		"1:open", "2:open", "1:attempt web-1", "1:client GET / HTTP/1.1\r\n\r\n", "1:discard refused",
		"1:attempt web-2", "2:attempt web-2", "1:server HTTP/1.1 200 OK\r\n\r\n", "1:close <nil>", "2:close reset",
	}
	if got := l.list(); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("delivered\n%q\nwant\n%q", got, want)
	}
	if st := a.Stats(); st != (Stats{Conns: 2}) {
		t.Errorf("stats %+v, want 2 connections and no loss", st)
	}
}

// A stalled inspector costs the copy path nothing: calls return at once,
// the connection that overflows the queue is lost whole (its inspector
// learns it with ErrFellBehind), and a connection opened while the queue
// is full is not inspected at all.
func TestAsyncFallsBehind(t *testing.T) {
	l := &log{gate: make(chan struct{})}
	a := NewAsync(l, Limits{Events: 6, Bytes: 10})
	c1 := Open(a, ConnInfo{ID: 1}) // the worker takes it and blocks in Open
	c1.ClientBytes([]byte("12345"))
	c1.ClientBytes([]byte("67890"))
	c1.ClientBytes([]byte("x")) // over the 10 bytes: c1 is lost
	c1.ServerBytes([]byte("dropped too"))
	c1.Close(nil) // ignored: c1 is closed with ErrFellBehind instead
	c2 := Open(a, ConnInfo{ID: 2})
	c3 := Open(a, ConnInfo{ID: 3})
	c4 := Open(a, ConnInfo{ID: 4}) // the queue holds 6 calls: c4 is refused
	if c4 != nil {
		t.Error("a connection opened on a full queue got a Conn")
	}
	c2.Close(nil)
	c3.Close(nil) // Close is queued even beyond the limit
	st := a.Stats()
	if st.Conns != 3 || st.LostConns != 2 || st.DroppedBytes != int64(len("x")+len("dropped too")) {
		t.Errorf("stats %+v: want 3 opened, 2 lost (c1 cut short, c4 never opened), 12 bytes dropped", st)
	}
	close(l.gate)
	a.Close()
	want := []string{"1:open", "1:client 12345", "1:client 67890", "1:close " + ErrFellBehind.Error(),
		"2:open", "3:open", "2:close <nil>", "3:close <nil>"}
	if got := l.list(); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("delivered\n%q\nwant\n%q", got, want)
	}
}

// Connections still open when the Async closes are closed with ErrStopped;
// afterwards nothing is opened.
func TestAsyncClose(t *testing.T) {
	l := &log{}
	a := NewAsync(l, Limits{})
	c := Open(a, ConnInfo{ID: 1})
	c.ClientBytes([]byte("a"))
	a.Close()
	a.Close()
	c.ServerBytes([]byte("after"))
	c.Close(nil)
	if Open(a, ConnInfo{ID: 2}) != nil {
		t.Error("a closed Async opened a connection")
	}
	got := strings.Join(l.list(), "|")
	if want := "1:open|1:client a|1:close " + ErrStopped.Error(); got != want {
		t.Errorf("delivered %q, want %q", got, want)
	}
}

// BenchmarkAsync: the CPU an inspector behind NewAsync costs per chunk
// (a pooled copy, the queue, the worker's hand-off), with a worker that
// does nothing. The loop lets the worker drain every 256 chunks, as a
// copy loop that waits on sockets does, so nothing is dropped; ns/op
// includes the worker's time.
//
//	go test -run '^$' -bench Async -benchmem ./forwarder/inspect/
func BenchmarkAsync(b *testing.B) {
	for _, size := range []int{512, 32 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			a := NewAsync(funcInspector(func([]byte) {}), Limits{})
			defer a.Close()
			c := Open(a, ConnInfo{})
			chunk := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.ClientBytes(chunk)
				if i++; i%256 == 0 {
					for a.queued() > 0 {
						runtime.Gosched()
					}
				}
			}
			c.Close(nil)
			if st := a.Stats(); st.LostConns != 0 {
				b.Fatalf("the worker fell behind: %+v", st)
			}
		})
	}
}
