package httplog

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Conn parses cleartext HTTP/2 (prior knowledge or h2c upgrade) with
// x/net/http2's Framer and hpack decoder: one exchange per stream. Frames
// are pushed in as they arrive; DATA payloads are streamed, other frames
// are held whole (at most maxH2Frame) and handed to the Framer.
type h2Conn struct {
	c       *Conn
	cli     *h2Dir
	srv     *h2Dir
	streams map[uint32]*Exchange
}

func newH2Conn(c *Conn) *h2Conn {
	h := &h2Conn{c: c, streams: map[uint32]*Exchange{}}
	h.cli = newH2Dir(h, false)
	h.srv = newH2Dir(h, true)
	h.cli.preface = len(h2Preface)
	return h
}

// adoptUpgrade makes an h2c upgrade request stream 1.
func (h *h2Conn) adoptUpgrade(e *Exchange) {
	e.Stream, e.Proto = 1, "HTTP/2"
	h.streams[1] = e
}

func (c *Conn) feedH2(server bool, p []byte) {
	d := c.h2.cli
	if server {
		d = c.h2.srv
	}
	if err := d.feed(p); err != nil {
		c.fail(err)
	}
}

// close emits every open stream with note.
func (h *h2Conn) close(note string) {
	ids := make([]uint32, 0, len(h.streams))
	for id := range h.streams {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := h.streams[id]
		if !e.respDone && e.Note == "" {
			e.Note = note
		}
		h.c.emit(e)
	}
	clear(h.streams)
}

// finish emits a stream once both sides are done.
func (h *h2Conn) finish(id uint32, e *Exchange) {
	if e.reqDone && e.respDone {
		delete(h.streams, id)
		h.c.emit(e)
	}
}

type h2State uint8

const (
	h2Header  h2State = iota // the 9-byte frame header
	h2Payload                // a non-DATA frame's payload, held whole
	h2PadLen                 // a padded DATA frame's pad length byte
	h2Data                   // DATA payload, streamed
	h2Padding                // DATA padding, skipped
)

// h2Dir parses one direction's frames.
type h2Dir struct {
	h       *h2Conn
	server  bool
	preface int // client: preface bytes still to come

	st      h2State
	hdr     [9]byte
	nhdr    int
	fh      http2.FrameHeader
	payload []byte
	left    int // DATA bytes left, or padding left
	pad     int

	src frameSource
	fr  *http2.Framer
	dec *hpack.Decoder

	// A header block being assembled across CONTINUATION frames.
	block     []byte
	blockID   uint32 // the stream the block is about
	blockEnd  bool   // its HEADERS frame ended the stream
	blockPush bool   // it is a PUSH_PROMISE's request
}

func newH2Dir(h *h2Conn, server bool) *h2Dir {
	d := &h2Dir{h: h, server: server}
	d.fr = http2.NewFramer(io.Discard, &d.src)
	d.fr.SetMaxReadFrameSize(1<<24 - 1)
	d.dec = hpack.NewDecoder(4096, nil)
	d.dec.SetMaxStringLength(maxH2Header)
	return d
}

// frameSource hands the Framer the bytes of one frame at a time.
type frameSource struct{ b []byte }

func (s *frameSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func (d *h2Dir) feed(p []byte) error {
	if d.preface > 0 {
		n := min(d.preface, len(p))
		off := len(h2Preface) - d.preface
		if string(p[:n]) != h2Preface[off:off+n] {
			return errors.New("an HTTP/2 client did not start with the connection preface")
		}
		d.preface -= n
		p = p[n:]
	}
	for len(p) > 0 {
		switch d.st {
		case h2Header:
			n := copy(d.hdr[d.nhdr:], p)
			d.nhdr += n
			p = p[n:]
			if d.nhdr < len(d.hdr) {
				return nil
			}
			d.nhdr = 0
			if err := d.frameHeader(); err != nil {
				return err
			}
		case h2Payload:
			n := min(int(d.fh.Length)-len(d.payload), len(p))
			d.payload = append(d.payload, p[:n]...)
			p = p[n:]
			if len(d.payload) == int(d.fh.Length) {
				if err := d.frame(); err != nil {
					return err
				}
			}
		case h2PadLen:
			d.pad = int(p[0])
			p = p[1:]
			d.left = int(d.fh.Length) - 1 - d.pad
			if d.left < 0 {
				return fmt.Errorf("HTTP/2 DATA frame on stream %d has more padding than payload", d.fh.StreamID)
			}
			d.st = h2Data
			if d.left == 0 {
				d.dataEnd()
			}
		case h2Data:
			n := min(d.left, len(p))
			d.data(p[:n])
			p, d.left = p[n:], d.left-n
			if d.left == 0 {
				d.dataEnd()
			}
		case h2Padding:
			n := min(d.left, len(p))
			p, d.left = p[n:], d.left-n
			if d.left == 0 {
				d.st = h2Header
			}
		}
	}
	return nil
}

func (d *h2Dir) frameHeader() error {
	d.src.b = d.hdr[:]
	fh, err := d.fr.ReadFrameHeader()
	if err != nil {
		return fmt.Errorf("HTTP/2 frame header: %w", h2Err(err, d.fr))
	}
	d.fh = fh
	if fh.Type == http2.FrameData {
		if fh.StreamID == 0 {
			return errors.New("HTTP/2 DATA frame on stream 0")
		}
		d.left, d.pad = int(fh.Length), 0
		switch {
		case fh.Flags.Has(http2.FlagDataPadded):
			if fh.Length == 0 {
				return errors.New("HTTP/2 padded DATA frame without a pad length")
			}
			d.st = h2PadLen
		case fh.Length == 0:
			d.st = h2Data
			d.dataEnd()
		default:
			d.st = h2Data
		}
		return nil
	}
	if fh.Length > maxH2Frame {
		return fmt.Errorf("HTTP/2 %v frame of %d bytes (more than %d KiB)", fh.Type, fh.Length, maxH2Frame>>10)
	}
	d.payload = d.payload[:0]
	d.st = h2Payload
	if fh.Length == 0 {
		return d.frame()
	}
	return nil
}

// data is a chunk of a DATA frame's payload.
func (d *h2Dir) data(p []byte) {
	e := d.h.streams[d.fh.StreamID]
	if e == nil {
		return
	}
	cap := d.h.c.opts.BodyCap
	if d.server {
		if e.Resp == nil {
			e.Resp = &Message{}
		}
		e.Resp.capture(p, cap)
	} else {
		e.Req.capture(p, cap)
	}
}

func (d *h2Dir) dataEnd() {
	if d.pad > 0 {
		d.st, d.left = h2Padding, d.pad
	} else {
		d.st = h2Header
	}
	if d.fh.Flags.Has(http2.FlagDataEndStream) {
		d.endStream(d.fh.StreamID)
	}
}

func (d *h2Dir) endStream(id uint32) {
	e := d.h.streams[id]
	if e == nil {
		return
	}
	now := d.h.c.opts.Now()
	if d.server {
		e.respDone, e.ResponseEnd = true, now
	} else {
		e.reqDone, e.RequestEnd = true, now
	}
	d.h.finish(id, e)
}

// frame hands a whole non-DATA frame to the Framer.
func (d *h2Dir) frame() error {
	d.st = h2Header
	d.src.b = d.payload
	f, err := d.fr.ReadFrameForHeader(d.fh)
	if err != nil {
		var se http2.StreamError
		if errors.As(err, &se) {
			// One bad stream (a frame the spec forbids on it); the others go on.
			if e := d.h.streams[se.StreamID]; e != nil {
				e.Note = "stream error: " + se.Error()
				e.reqDone, e.respDone = true, true
				d.h.finish(se.StreamID, e)
			}
			return nil
		}
		return fmt.Errorf("HTTP/2 %v frame: %w", d.fh.Type, h2Err(err, d.fr))
	}
	switch f := f.(type) {
	case *http2.HeadersFrame:
		d.block = append(d.block[:0], f.HeaderBlockFragment()...)
		d.blockID, d.blockEnd, d.blockPush = f.StreamID, f.StreamEnded(), false
		if f.HeadersEnded() {
			return d.headers()
		}
	case *http2.PushPromiseFrame:
		if !d.server {
			return errors.New("an HTTP/2 client sent PUSH_PROMISE")
		}
		d.block = append(d.block[:0], f.HeaderBlockFragment()...)
		d.blockID, d.blockEnd, d.blockPush = f.PromiseID, false, true
		if f.HeadersEnded() {
			return d.headers()
		}
	case *http2.ContinuationFrame:
		if len(d.block)+len(f.HeaderBlockFragment()) > maxH2Header {
			return fmt.Errorf("an HTTP/2 header block is larger than %d KiB", maxH2Header>>10)
		}
		d.block = append(d.block, f.HeaderBlockFragment()...)
		if f.HeadersEnded() {
			return d.headers()
		}
	case *http2.SettingsFrame:
		// Settings bind what the peer sends: the table size the server
		// allows is the one the client's encoder uses, and vice versa.
		if v, ok := f.Value(http2.SettingHeaderTableSize); ok && !f.IsAck() {
			other := d.h.srv
			if d.server {
				other = d.h.cli
			}
			other.dec.SetAllowedMaxDynamicTableSize(v)
		}
	case *http2.RSTStreamFrame:
		if e := d.h.streams[f.StreamID]; e != nil {
			if e.Note == "" {
				who := "client"
				if d.server {
					who = "server"
				}
				e.Note = fmt.Sprintf("the %s reset the stream (%v)", who, f.ErrCode)
			}
			e.reqDone, e.respDone = true, true
			d.h.finish(f.StreamID, e)
		}
	}
	return nil
}

// headers decodes a complete header block (always: hpack's table must
// see every block) and applies it to its stream.
func (d *h2Dir) headers() error {
	fields, err := d.dec.DecodeFull(d.block)
	if err != nil {
		return fmt.Errorf("HTTP/2 header block on stream %d: %w", d.blockID, err)
	}
	id := d.blockID
	c := d.h.c
	pseudo := map[string]string{}
	var hs []Header
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			pseudo[f.Name] = f.Value
			continue
		}
		hs = append(hs, Header{Name: f.Name, Value: f.Value})
	}
	e := d.h.streams[id]
	switch {
	case !d.server || d.blockPush:
		if e != nil {
			if d.blockPush {
				return fmt.Errorf("HTTP/2 PUSH_PROMISE for stream %d, which is open", id)
			}
			e.Req.Trailers = hs // a request's trailers
			break
		}
		if len(d.h.streams) >= maxStreams {
			return fmt.Errorf("more than %d HTTP/2 streams open at once", maxStreams)
		}
		e = c.newExchange("HTTP/2")
		e.Stream = id
		e.Method, e.Path, e.Host = pseudo[":method"], pseudo[":path"], pseudo[":authority"]
		if e.Path == "" && e.Method == "CONNECT" {
			e.Path = e.Host
		}
		e.Req.Headers = hs
		if d.blockPush {
			e.reqDone, e.RequestEnd = true, e.RequestAt
			e.Note = "server push"
		}
		d.h.streams[id] = e
	default:
		if e == nil {
			return nil // a stream we no longer follow (reset, or opened before logging)
		}
		status := pseudo[":status"]
		if e.Resp == nil || e.Status == 0 {
			if status == "" {
				return fmt.Errorf("HTTP/2 response on stream %d without :status", id)
			}
			n := 0
			if _, err := fmt.Sscanf(status, "%d", &n); err != nil || n < 100 || n > 999 {
				return fmt.Errorf("HTTP/2 response on stream %d with bad :status %q", id, status)
			}
			if n < 200 {
				return nil // informational; the final response follows
			}
			body := e.Resp
			e.Status = n
			e.Resp = &Message{Headers: hs}
			if body != nil {
				e.Resp.Body, e.Resp.Size, e.Resp.Truncated = body.Body, body.Size, body.Truncated
			}
			e.ResponseAt = c.opts.Now()
			e.GRPCStatus = headerValue(hs, "grpc-status")
		} else {
			e.Resp.Trailers = hs
			if g := headerValue(hs, "grpc-status"); g != "" {
				e.GRPCStatus = g
			}
		}
	}
	if d.blockEnd {
		d.endStream(id)
	}
	return nil
}

// h2Err adds the Framer's detail to a connection error.
func h2Err(err error, fr *http2.Framer) error {
	if d := fr.ErrorDetail(); d != nil {
		return fmt.Errorf("%w: %v", err, d)
	}
	return err
}
