package relaywire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		typ     byte
		flow    uint32
		payload []byte
	}{
		{"empty datagram", FrameData, 1, nil},
		{"small", FrameData, 7, []byte("dns query")},
		{"max flow id", FrameData, ^uint32(0), []byte{0}},
		{"max size", FrameData, 3, bytes.Repeat([]byte{0xab}, MaxPayload)},
		{"close", FrameClose, 9, nil},
	}
	var stream bytes.Buffer
	for _, tt := range tests {
		b, err := AppendFrame(nil, tt.typ, tt.flow, tt.payload)
		if err != nil {
			t.Fatalf("%s: encode: %v", tt.name, err)
		}
		stream.Write(b)
	}
	r := NewReader(&stream)
	for _, tt := range tests {
		f, err := r.Next()
		if err != nil {
			t.Fatalf("%s: decode: %v", tt.name, err)
		}
		if f.Type != tt.typ || f.Flow != tt.flow || !bytes.Equal(f.Payload, tt.payload) {
			t.Errorf("%s: got type %d flow %d len %d, want type %d flow %d len %d",
				tt.name, f.Type, f.Flow, len(f.Payload), tt.typ, tt.flow, len(tt.payload))
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after last frame: got %v, want io.EOF", err)
	}
}

func TestMalformed(t *testing.T) {
	hdr := func(typ byte, flow uint32, n uint16) []byte {
		b := []byte{typ, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:5], flow)
		binary.BigEndian.PutUint16(b[5:7], n)
		return b
	}
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"oversize length", hdr(FrameData, 1, MaxPayload+1), "exceeds"},
		{"max uint16 length", hdr(FrameData, 1, 0xffff), "exceeds"},
		{"unknown type", hdr(9, 1, 0), "unknown frame type 9"},
		{"zero type", hdr(0, 1, 0), "unknown frame type 0"},
		{"close with payload", append(hdr(FrameClose, 1, 1), 'x'), "close frame with 1 payload"},
		{"truncated header", []byte{FrameData, 0, 0}, "inside a frame header"},
		{"truncated payload", append(hdr(FrameData, 4, 10), "abc"...), "inside a 10-byte datagram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.input)).Next()
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v, want a protocol error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestEncodeRejectsOversize(t *testing.T) {
	if _, err := AppendFrame(nil, FrameData, 1, make([]byte, MaxPayload+1)); !errors.Is(err, ErrProtocol) {
		t.Fatalf("encoding %d bytes: got %v, want protocol error", MaxPayload+1, err)
	}
	if _, err := AppendFrame(nil, FrameClose, 1, []byte("x")); !errors.Is(err, ErrProtocol) {
		t.Fatalf("close with payload: got %v, want protocol error", err)
	}
}

func TestStreamHeader(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  string // "" means accepted
	}{
		{"ours", []byte{'K', 'F', 'U', Version}, ""},
		{"other version", []byte{'K', 'F', 'U', Version + 1}, "version 2"},
		{"http", []byte("GET "), "not a kftray UDP relay stream"},
		{"short", []byte("KF"), "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ReadStreamHeader(bytes.NewReader(tt.input))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want accepted", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want error mentioning %q", err, tt.want)
			}
		})
	}
	var b bytes.Buffer
	if err := WriteStreamHeader(&b); err != nil {
		t.Fatal(err)
	}
	if err := ReadStreamHeader(&b); err != nil {
		t.Fatalf("own header rejected: %v", err)
	}
}

// The hot path (one datagram each way) must not allocate.
func TestNoAllocsPerDatagram(t *testing.T) {
	buf := make([]byte, MaxFrameLen)
	w := NewWriter(io.Discard)
	defer w.Close()
	if n := testing.AllocsPerRun(100, func() {
		if err := w.WriteData(buf, 5, 1200); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Writer.WriteData: %v allocs per datagram, want 0", n)
	}

	frame, _ := AppendFrame(nil, FrameData, 5, make([]byte, 1200))
	src := &repeatReader{frame: frame}
	r := NewReader(src)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Reader.Next: %v allocs per datagram, want 0", n)
	}
}

// repeatReader yields the same frame forever.
type repeatReader struct {
	frame []byte
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.frame[r.off:])
		n += c
		r.off = (r.off + c) % len(r.frame)
	}
	return n, nil
}

func BenchmarkReadFrame(b *testing.B) {
	frame, _ := AppendFrame(nil, FrameData, 5, make([]byte, 512))
	r := NewReader(&repeatReader{frame: frame})
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
