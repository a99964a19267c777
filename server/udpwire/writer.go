package udpwire

import (
	"fmt"
	"io"
	"sync"
)

// Writer serialises frames from many flows onto one stream. Each frame goes
// out in a single Write so frames never interleave.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer for w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteData sends one datagram. buf holds the datagram at
// buf[HeaderLen:HeaderLen+n]; the header is filled in place, so the caller
// must own buf[:HeaderLen] too.
func (w *Writer) WriteData(buf []byte, flow uint32, n int) error {
	if err := PutHeader(buf, FrameData, flow, n); err != nil {
		return err
	}
	return w.write(buf[:HeaderLen+n], flow)
}

// WriteClose tells the peer that flow is gone.
func (w *Writer) WriteClose(flow uint32) error {
	var b [HeaderLen]byte
	if err := PutHeader(b[:], FrameClose, flow, 0); err != nil {
		return err
	}
	return w.write(b[:], flow)
}

func (w *Writer) write(b []byte, flow uint32) error {
	w.mu.Lock()
	_, err := w.w.Write(b)
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("write udpwire frame for flow %d: %w", flow, err)
	}
	return nil
}
