package relaywire

import (
	"fmt"
	"io"
	"sync"
)

// maxPending bounds the frames queued behind a slow stream; past it,
// senders wait (backpressure reaches the UDP socket, whose buffer then drops,
// as UDP would).
const maxPending = 1 << 20

// Writer serialises frames from many flows onto one stream. Senders queue
// frames and return; one goroutine writes everything queued in a single
// Write. Under load that coalesces many datagrams per syscall (measured: the
// per-datagram write was most of the relay's CPU); when idle it writes each
// frame as soon as it is queued. Frames never interleave.
type Writer struct {
	w io.Writer

	mu      sync.Mutex
	cond    sync.Cond // signalled when the queue drains or the writer fails
	pending []byte
	spare   []byte
	err     error
	wake    chan struct{}
	closed  bool
}

// NewWriter returns a Writer for w and starts its writing goroutine; Close
// stops it.
func NewWriter(w io.Writer) *Writer {
	wr := &Writer{w: w, wake: make(chan struct{}, 1),
		pending: make([]byte, 0, 64<<10), spare: make([]byte, 0, 64<<10)}
	wr.cond.L = &wr.mu
	go wr.loop()
	return wr
}

// WriteData queues one datagram. buf holds the datagram at
// buf[HeaderLen:HeaderLen+n]; the header is filled in place, so the caller
// must own buf[:HeaderLen] too. buf may be reused when WriteData returns.
func (w *Writer) WriteData(buf []byte, flow uint32, n int) error {
	if err := PutHeader(buf, FrameData, flow, n); err != nil {
		return err
	}
	return w.queue(buf[:HeaderLen+n], flow)
}

// WriteClose tells the peer that flow is gone.
func (w *Writer) WriteClose(flow uint32) error {
	var b [HeaderLen]byte
	if err := PutHeader(b[:], FrameClose, flow, 0); err != nil {
		return err
	}
	return w.queue(b[:], flow)
}

// Close stops the writing goroutine after it has written what is queued. It
// does not close the underlying stream.
func (w *Writer) Close() {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	w.signal()
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Writer) queue(frame []byte, flow uint32) error {
	w.mu.Lock()
	for w.err == nil && !w.closed && len(w.pending) > 0 && len(w.pending)+len(frame) > maxPending {
		w.cond.Wait()
	}
	err := w.err
	if err == nil && w.closed {
		err = io.ErrClosedPipe
	}
	if err != nil {
		w.mu.Unlock()
		return fmt.Errorf("write relaywire frame for flow %d: %w", flow, err)
	}
	w.pending = append(w.pending, frame...)
	w.mu.Unlock()
	w.signal()
	return nil
}

func (w *Writer) loop() {
	for range w.wake {
		w.mu.Lock()
		for len(w.pending) > 0 && w.err == nil {
			batch := w.pending
			w.pending = w.spare[:0]
			w.mu.Unlock()
			_, err := w.w.Write(batch)
			w.mu.Lock()
			w.spare = batch[:0]
			if err != nil {
				w.err = err
			}
			w.cond.Broadcast()
		}
		done := w.closed || w.err != nil
		w.cond.Broadcast()
		w.mu.Unlock()
		if done {
			return
		}
	}
}
