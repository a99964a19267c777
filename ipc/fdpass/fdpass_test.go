package fdpass

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	a, b, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return New(a), New(b)
}

// openFDs counts this process's descriptors, to prove nothing leaks.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func tempFile(t *testing.T, content string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "fd")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestRoundTripWithDescriptors(t *testing.T) {
	a, b := pair(t)
	f := tempFile(t, "hello through a passed fd")
	for _, body := range []string{"", "x", strings.Repeat("frame", 10000)} {
		if err := a.Write([]byte(body), int(f.Fd())); err != nil {
			t.Fatal(err)
		}
		got, fds, err := b.Read()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != body {
			t.Fatalf("body: got %d bytes, want %d", len(got), len(body))
		}
		if len(fds) != 1 {
			t.Fatalf("got %d fds, want 1", len(fds))
		}
		rf := os.NewFile(uintptr(fds[0]), "recv")
		buf := make([]byte, 100)
		n, _ := rf.ReadAt(buf, 0)
		rf.Close()
		if string(buf[:n]) != "hello through a passed fd" {
			t.Fatalf("passed fd reads %q", buf[:n])
		}
	}
}

func TestFramesKeepBoundaries(t *testing.T) {
	a, b := pair(t)
	f := tempFile(t, "x")
	// Back-to-back frames, fds on each: the reader must not merge them.
	for i := 0; i < 5; i++ {
		if err := a.Write([]byte{byte(i)}, int(f.Fd()), int(f.Fd())); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		body, fds, err := b.Read()
		if err != nil {
			t.Fatal(err)
		}
		if len(body) != 1 || body[0] != byte(i) || len(fds) != 2 {
			t.Fatalf("frame %d: body %v fds %d", i, body, len(fds))
		}
		CloseFDs(fds)
	}
}

func TestTruncatedControlMessageIsAnErrorAndLeaksNothing(t *testing.T) {
	a, b := pair(t)
	f := tempFile(t, "x")
	before := openFDs(t)
	fds := make([]int, MaxFDs+2)
	for i := range fds {
		fds[i] = int(f.Fd())
	}
	// Bypass Write's own bound to play a hostile peer.
	if _, _, err := a.c.WriteMsgUnix([]byte{0}, unix.UnixRights(fds...), nil); err != nil {
		t.Fatal(err)
	}
	a.c.Write([]byte{0, 0, 0})
	_, got, err := b.Read()
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	if got != nil {
		t.Fatalf("returned fds %v on error", got)
	}
	if after := openFDs(t); after != before {
		t.Fatalf("descriptor leak: %d open before, %d after", before, after)
	}
}

func TestDescriptorsInsideBodyRefused(t *testing.T) {
	a, b := pair(t)
	f := tempFile(t, "x")
	before := openFDs(t)
	// A valid head byte, then a later byte carrying a descriptor.
	a.c.Write([]byte{0, 0, 0})
	if _, _, err := a.c.WriteMsgUnix([]byte{2}, unix.UnixRights(int(f.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	a.c.Write([]byte{'o', 'k'})
	if _, _, err := b.Read(); err == nil || !strings.Contains(err.Error(), "inside a frame body") {
		t.Fatalf("err = %v, want refusal of fds inside body", err)
	}
	if after := openFDs(t); after != before {
		t.Fatalf("descriptor leak: %d open before, %d after", before, after)
	}
}

func TestEOF(t *testing.T) {
	tests := []struct {
		name  string
		write []byte
		want  error
	}{
		{"clean close between frames", nil, io.EOF},
		{"close mid header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"close mid body", []byte{0, 0, 0, 5, 'a'}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := pair(t)
			a.c.Write(tt.write)
			a.Close()
			_, _, err := b.Read()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBounds(t *testing.T) {
	a, b := pair(t)
	if err := a.Write(make([]byte, MaxBody+1)); err == nil {
		t.Fatal("oversized body accepted by Write")
	}
	if err := a.Write(nil, make([]int, MaxFDs+1)...); err == nil {
		t.Fatal("too many fds accepted by Write")
	}
	a.c.Write([]byte{0xff, 0xff, 0xff, 0xff})
	if _, _, err := b.Read(); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("err = %v, want size refusal", err)
	}
}
