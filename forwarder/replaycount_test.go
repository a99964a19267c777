package forwarder

import (
	"io"
	"net"
	"testing"
	"time"
)

// A connection refused by the first pod's kubelet after the client's
// bytes were sent to it is replayed on another pod: those bytes are
// counted once, not once per attempt.
func TestReplayedBytesCountedOnce(t *testing.T) {
	w, f, addr := stuckOnWeb1(t)
	base := waitState(t, f, "first connection done", func(s State) bool { return s.ActiveConns == 0 })
	// web-1's kubelet refuses, once the test lets it answer; the API still
	// lists it as ready.
	w.srv.DeletePod(ns, "web-1", false)
	release := w.srv.Hold(ns, "web-1")
	defer release()
	payload := []byte("sent before any answer")
	send := func(i int, afterSend func()) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
		afterSend()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "web-2\n"+string(payload) {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
	}
	// The first connection's bytes reach web-1's stream before the refusal.
	send(0, func() {
		waitState(t, f, "bytes sent to web-1", func(s State) bool { return s.BytesToPod-base.BytesToPod >= int64(len(payload)) })
		release()
	})
	const conns = 5
	for i := 1; i < conns; i++ {
		send(i, func() {})
	}
	st := waitState(t, f, "connections done", func(s State) bool { return s.ActiveConns == 0 })
	if got, want := st.BytesToPod-base.BytesToPod, int64(conns*len(payload)); got != want {
		t.Errorf("bytes to pod %d, want %d: replayed bytes counted again", got, want)
	}
	if got, want := st.BytesFromPod-base.BytesFromPod, int64(conns*len("web-2\n"+string(payload))); got != want {
		t.Errorf("bytes from pod %d, want %d", got, want)
	}
}
