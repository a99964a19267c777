package relaywire

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Many flows writing at once over a real socket: every frame arrives whole
// and in order within its flow.
func TestWriterConcurrentFlows(t *testing.T) {
	a, b := socketPair(t)
	w := NewWriter(a)
	defer w.Close()
	const flows, per = 8, 500
	var wg sync.WaitGroup
	for f := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, MaxFrameLen)
			for i := range per {
				n := 8 + (i*37+f)%1400
				binary.BigEndian.PutUint64(buf[HeaderLen:], uint64(i))
				for j := 8; j < n; j++ {
					buf[HeaderLen+j] = byte(f)
				}
				if err := w.WriteData(buf, uint32(f), n); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	r := NewReader(b)
	next := make([]uint64, flows)
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range flows * per {
		fr, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		seq := binary.BigEndian.Uint64(fr.Payload)
		if seq != next[fr.Flow] {
			t.Fatalf("flow %d: got datagram %d, want %d", fr.Flow, seq, next[fr.Flow])
		}
		next[fr.Flow]++
		for _, c := range fr.Payload[8:] {
			if c != byte(fr.Flow) {
				t.Fatalf("flow %d: datagram %d carries another flow's bytes", fr.Flow, seq)
			}
		}
	}
	wg.Wait()
}

// A broken stream is reported to senders, not swallowed.
func TestWriterReportsStreamError(t *testing.T) {
	a, b := socketPair(t)
	b.Close()
	a.Close()
	w := NewWriter(a)
	defer w.Close()
	buf := make([]byte, MaxFrameLen)
	var err error
	for range 1000 {
		if err = w.WriteData(buf, 1, 100); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("got %v, want the stream's error", err)
	}
	w.Close()
	if err := w.WriteClose(1); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

func socketPair(t *testing.T) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-done
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}
