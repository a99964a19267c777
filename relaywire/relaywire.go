// Package relaywire is the wire format that carries UDP datagrams over one
// reliable byte stream (a Kubernetes port-forward stream) between the
// forwarder's UDP client and the kftray-server relay.
//
// A stream starts with a 4-byte header in each direction: "KFU" and a version
// byte. After it come frames:
//
//	type   uint8   (FrameData, FrameClose)
//	flow   uint32  big endian; one flow per local UDP peer, chosen by the client
//	length uint16  big endian; payload bytes, at most MaxPayload
//	payload
//
// A DATA frame carries one datagram of a flow. A CLOSE frame (no payload) says
// the sender forgot the flow (idle expiry), so the peer may drop its state.
// Anything else is a protocol error: the receiver closes the whole stream,
// since a byte stream cannot be resynchronised after a bad frame.
package relaywire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version this package speaks.
const Version = 1

// MaxPayload is the largest UDP payload over IPv4 (65535 - 8 - 20).
const MaxPayload = 65507

// HeaderLen is the size of a frame header; MaxFrameLen of a whole frame.
const (
	HeaderLen   = 7
	MaxFrameLen = HeaderLen + MaxPayload
)

// StreamHeaderLen is the size of the per-stream header.
const StreamHeaderLen = 4

// Frame types.
const (
	FrameData  byte = 1
	FrameClose byte = 2
)

var magic = [3]byte{'K', 'F', 'U'}

// ErrProtocol is wrapped by every decoding error caused by bad peer input.
var ErrProtocol = errors.New("relaywire protocol error")

// StreamHeader returns the header a side writes first on a new stream.
func StreamHeader() [StreamHeaderLen]byte {
	return [StreamHeaderLen]byte{magic[0], magic[1], magic[2], Version}
}

// WriteStreamHeader writes the per-stream header.
func WriteStreamHeader(w io.Writer) error {
	h := StreamHeader()
	if _, err := w.Write(h[:]); err != nil {
		return fmt.Errorf("write relaywire stream header: %w", err)
	}
	return nil
}

// ReadStreamHeader reads and checks the peer's stream header.
func ReadStreamHeader(r io.Reader) error {
	var h [StreamHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return fmt.Errorf("read relaywire stream header: %w", err)
	}
	if h[0] != magic[0] || h[1] != magic[1] || h[2] != magic[2] {
		return fmt.Errorf("%w: stream header %q is not a kftray UDP relay stream (want \"KFU\"+version)", ErrProtocol, h[:])
	}
	if h[3] != Version {
		return fmt.Errorf("%w: peer speaks UDP relay protocol version %d, this build speaks %d; deploy a matching kftray-server image", ErrProtocol, h[3], Version)
	}
	return nil
}

// PutHeader fills b[:HeaderLen] with a frame header. Callers read a datagram
// straight into b[HeaderLen:] and then write b[:HeaderLen+n], so a datagram
// is never copied on its way to the stream.
func PutHeader(b []byte, typ byte, flow uint32, n int) error {
	if n < 0 || n > MaxPayload {
		return fmt.Errorf("%w: datagram of %d bytes exceeds the %d-byte UDP limit", ErrProtocol, n, MaxPayload)
	}
	if typ == FrameClose && n != 0 {
		return fmt.Errorf("%w: close frame with %d payload bytes", ErrProtocol, n)
	}
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:5], flow)
	binary.BigEndian.PutUint16(b[5:7], uint16(n))
	return nil
}

// AppendFrame appends one encoded frame to dst.
func AppendFrame(dst []byte, typ byte, flow uint32, payload []byte) ([]byte, error) {
	var h [HeaderLen]byte
	if err := PutHeader(h[:], typ, flow, len(payload)); err != nil {
		return dst, err
	}
	dst = append(dst, h[:]...)
	return append(dst, payload...), nil
}

// Frame is one decoded frame. Payload aliases the Reader's buffer and is valid
// only until the next call to Next.
type Frame struct {
	Type    byte
	Flow    uint32
	Payload []byte
}

// Reader decodes frames from a stream with one reusable buffer, so reading a
// datagram allocates nothing.
type Reader struct {
	r   *bufio.Reader
	hdr [HeaderLen]byte // a field, not a local: a local escapes through io.ReadFull
	buf []byte
}

// NewReader returns a Reader for r. The stream header must already have been
// consumed (or not be part of r).
func NewReader(r io.Reader) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{r: br, buf: make([]byte, MaxPayload)}
}

// Next returns the next frame. io.EOF means the stream ended cleanly between
// frames; an error wrapping ErrProtocol means the peer sent a bad frame and the
// stream must be closed.
func (r *Reader) Next() (Frame, error) {
	h := r.hdr[:]
	if _, err := io.ReadFull(r.r, h); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("%w: stream ended inside a frame header", ErrProtocol)
		}
		return Frame{}, err
	}
	f := Frame{Type: h[0], Flow: binary.BigEndian.Uint32(h[1:5])}
	n := int(binary.BigEndian.Uint16(h[5:7]))
	switch f.Type {
	case FrameData:
		if n > MaxPayload {
			return Frame{}, fmt.Errorf("%w: flow %d: frame of %d bytes exceeds the %d-byte UDP limit", ErrProtocol, f.Flow, n, MaxPayload)
		}
	case FrameClose:
		if n != 0 {
			return Frame{}, fmt.Errorf("%w: flow %d: close frame with %d payload bytes", ErrProtocol, f.Flow, n)
		}
	default:
		return Frame{}, fmt.Errorf("%w: unknown frame type %d", ErrProtocol, f.Type)
	}
	if _, err := io.ReadFull(r.r, r.buf[:n]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("%w: flow %d: stream ended inside a %d-byte datagram", ErrProtocol, f.Flow, n)
		}
		return Frame{}, err
	}
	f.Payload = r.buf[:n]
	return f, nil
}
