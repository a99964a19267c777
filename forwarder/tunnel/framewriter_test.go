package tunnel

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// recordConn records each Write as one piece.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

func frame(streamID uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, streamID)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

func TestFrameWriter(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 40<<10)
	f1, f2, empty := frame(1, []byte("hello")), frame(3, big), frame(5, nil)
	for _, tc := range []struct {
		name   string
		pieces [][]byte
		want   [][]byte
	}{
		{"header pieces then payload, as spdystream writes", [][]byte{f1[:4], f1[4:8], f1[8:]}, [][]byte{f1}},
		{"zero-length frame (FIN) flushes on its header", [][]byte{empty[:4], empty[4:]}, [][]byte{empty}},
		{"two frames in one write", [][]byte{append(append([]byte(nil), f1...), empty...)}, [][]byte{f1, empty}},
		{"large payload", [][]byte{f2[:4], f2[4:8], f2[8:]}, [][]byte{f2}},
		{"frame split mid-payload", [][]byte{f1[:3], f1[3:10], f1[10:]}, [][]byte{f1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &recordConn{}
			w := &frameWriter{activityConn: newActivityConn(rc)}
			for _, p := range tc.pieces {
				if n, err := w.Write(p); err != nil || n != len(p) {
					t.Fatalf("write %d bytes: %d, %v", len(p), n, err)
				}
			}
			if len(rc.writes) != len(tc.want) {
				t.Fatalf("%d writes to the connection, want %d", len(rc.writes), len(tc.want))
			}
			for i := range tc.want {
				if !bytes.Equal(rc.writes[i], tc.want[i]) {
					t.Fatalf("write %d differs (%d bytes, want %d)", i, len(rc.writes[i]), len(tc.want[i]))
				}
			}
		})
	}
}

func TestActivityDead(t *testing.T) {
	now := time.Now()
	const after = 20 * time.Second
	for _, tc := range []struct {
		name             string
		reading, writing time.Duration // how long each has waited; 0: none in progress
		dead             bool
	}{
		{"idle between reads", 0, 0, false},
		{"read waiting, within the limit", 10 * time.Second, 0, false},
		{"read waiting past the limit", 25 * time.Second, 0, true},
		{"write blocked too: maybe backpressure", 25 * time.Second, 25 * time.Second, false},
		{"write blocked, past three times the limit", 61 * time.Second, 61 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &activityConn{}
			if tc.reading > 0 {
				a.readingFrom = now.Add(-tc.reading)
			}
			if tc.writing > 0 {
				a.writingFrom = now.Add(-tc.writing)
			}
			if got := a.dead(now, after); got != tc.dead {
				t.Fatalf("dead = %v, want %v", got, tc.dead)
			}
		})
	}
}

func TestLocalRewind(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	l := NewLocal(b)
	go func() { a.Write([]byte("hello")); a.Close() }()
	buf := make([]byte, 3)
	if n, _ := l.Read(buf); string(buf[:n]) != "hel" {
		t.Fatalf("first read %q", buf[:n])
	}
	l.rewind() // attempt 1 refused after reading "hel"
	l.rewind() // attempt 2 failed before reading anything: nothing lost
	got, err := io.ReadAll(l)
	if err != nil || string(got) != "hello" {
		t.Fatalf("after two rewinds: %q, %v", got, err)
	}
	l.rewind() // refused after reading everything, EOF included
	if got, _ := io.ReadAll(l); string(got) != "hello" {
		t.Fatalf("replay after EOF: %q", got)
	}
}
