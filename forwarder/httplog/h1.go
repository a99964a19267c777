package httplog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// h1State is where one direction's HTTP/1 parser is in its message.
type h1State uint8

const (
	stHead      h1State = iota // reading a head (start line and headers)
	stLength                   // a body of known length
	stChunkSize                // a chunk-size line
	stChunkData                // a chunk's data
	stChunkEnd                 // the CRLF after a chunk's data
	stTrailer                  // trailer lines after the last chunk
	stClose                    // a response body that ends when the connection does
	stHold                     // client: waiting for the answer to an upgrade or CONNECT
)

// h1Dir parses one direction of an HTTP/1 connection incrementally: it
// keeps no more than one head (maxHead) and the bodies' captured bytes.
type h1Dir struct {
	c      *Conn
	server bool
	st     h1State
	buf    []byte // the head or line being read; in stHold, the held bytes
	// lineStart is where the head's current line starts in buf.
	lineStart int
	left      int64 // bytes left in the body or chunk
	ex        *Exchange
	msg       *Message // where body bytes go
	seen      bool     // a whole head was parsed in this direction
}

func (d *h1Dir) feed(p []byte) error {
	c := d.c
	for len(p) > 0 {
		if c.mode != modeH1 {
			// The connection switched protocols mid-chunk: the rest is
			// the new protocol's.
			if c.mode == modeH2 {
				c.feedH2(d.server, p)
			}
			return nil
		}
		switch d.st {
		case stHead:
			i := bytes.IndexByte(p, '\n')
			line := p
			if i >= 0 {
				line = p[:i+1]
			}
			if len(d.buf)+len(line) > maxHead {
				return d.headErr(fmt.Errorf("a %s head is larger than %d KiB", d.what(), maxHead>>10))
			}
			d.buf = append(d.buf, line...)
			p = p[len(line):]
			if i < 0 {
				return nil
			}
			full := d.buf[d.lineStart:]
			if d.lineStart == 0 && isBlank(full) {
				d.buf = d.buf[:0] // empty lines before a head are allowed
				continue
			}
			if d.lineStart == 0 && !d.server && !d.seen {
				// The first request line decides whether this is HTTP at all.
				if _, _, _, err := parseRequestLine(trimEOL(full)); err != nil {
					return errNotHTTP
				}
			}
			if !isBlank(full) {
				d.lineStart = len(d.buf)
				continue
			}
			head := d.buf
			d.buf, d.lineStart = d.buf[:0], 0
			if err := d.head(head); err != nil {
				return d.headErr(err)
			}
		case stLength, stChunkData:
			n := int(min(d.left, int64(len(p))))
			d.msg.capture(p[:n], c.opts.BodyCap)
			p, d.left = p[n:], d.left-int64(n)
			if d.left == 0 {
				if d.st == stLength {
					d.end()
				} else {
					d.st = stChunkEnd
				}
			}
		case stChunkSize, stChunkEnd, stTrailer:
			i := bytes.IndexByte(p, '\n')
			line := p
			if i >= 0 {
				line = p[:i+1]
			}
			limit := maxLine
			if d.st == stTrailer {
				limit = maxHead
			}
			if len(d.buf)+len(line) > limit {
				return fmt.Errorf("a %s's chunked framing has a line longer than %d KiB", d.what(), limit>>10)
			}
			d.buf = append(d.buf, line...)
			p = p[len(line):]
			if i < 0 {
				return nil
			}
			l := d.buf
			d.buf = d.buf[:0]
			if err := d.chunkLine(l); err != nil {
				return err
			}
		case stClose:
			d.msg.capture(p, c.opts.BodyCap)
			return nil
		case stHold:
			if len(d.buf)+len(p) > maxHold {
				return fmt.Errorf("the client sent more than %d KiB before its upgrade request was answered", maxHold>>10)
			}
			d.buf = append(d.buf, p...)
			return nil
		}
	}
	return nil
}

// headErr turns a malformed first request into "not HTTP".
func (d *h1Dir) headErr(err error) error {
	if !d.server && !d.seen {
		return errNotHTTP
	}
	return err
}

func (d *h1Dir) what() string {
	if d.server {
		return "response"
	}
	return "request"
}

func (d *h1Dir) chunkLine(l []byte) error {
	switch d.st {
	case stChunkSize:
		s := trimEOL(l)
		if i := bytes.IndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		s = bytes.TrimSpace(s)
		if len(s) == 0 || len(s) > 15 {
			return fmt.Errorf("bad chunk size %q in a %s", trimEOL(l), d.what())
		}
		n, err := strconv.ParseInt(string(s), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q in a %s", trimEOL(l), d.what())
		}
		if n == 0 {
			d.st = stTrailer
			return nil
		}
		d.st, d.left = stChunkData, n
	case stChunkEnd:
		if len(trimEOL(l)) != 0 {
			return fmt.Errorf("a %s's chunk is longer than its size says", d.what())
		}
		d.st = stChunkSize
	case stTrailer:
		if !isBlank(l) {
			h, err := parseHeaderLine(trimEOL(l))
			if err != nil {
				return fmt.Errorf("%s trailer: %w", d.what(), err)
			}
			d.msg.Trailers = append(d.msg.Trailers, h)
			return nil
		}
		if d.ex != nil && d.ex.GRPCStatus == "" {
			d.ex.GRPCStatus = headerValue(d.msg.Trailers, "grpc-status")
		}
		d.end()
	}
	return nil
}

// head handles a complete head.
func (d *h1Dir) head(head []byte) error {
	lines := splitLines(head)
	if len(lines) == 0 {
		return errors.New("empty head")
	}
	hs, err := parseHeaders(lines[1:])
	if err != nil {
		return fmt.Errorf("%s headers: %w", d.what(), err)
	}
	if d.server {
		return d.responseHead(lines[0], hs)
	}
	return d.requestHead(lines[0], hs)
}

func (d *h1Dir) requestHead(line []byte, hs []Header) error {
	c := d.c
	method, target, proto, err := parseRequestLine(line)
	if err != nil {
		return err
	}
	if len(c.pending) >= maxPending {
		return fmt.Errorf("more than %d pipelined requests wait for their responses", maxPending)
	}
	d.seen = true
	e := c.newExchange(proto)
	e.Method, e.Path, e.Host = method, target, headerValue(hs, "Host")
	e.Req.Headers = hs
	c.pending = append(c.pending, e)
	d.ex, d.msg = e, &e.Req
	if te := headerValue(hs, "Transfer-Encoding"); te != "" {
		if !lastCodingChunked(te) {
			return fmt.Errorf("request Transfer-Encoding %q does not end with chunked", te)
		}
		d.st = stChunkSize
		return nil
	}
	n, err := contentLength(hs)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if n > 0 {
		d.st, d.left = stLength, n
		return nil
	}
	d.end()
	return nil
}

func (d *h1Dir) responseHead(line []byte, hs []Header) error {
	c := d.c
	proto, status, reason, err := parseStatusLine(line)
	if err != nil {
		return err
	}
	var e *Exchange
	for _, p := range c.pending {
		if !p.respDone {
			e = p
			break
		}
	}
	if e == nil {
		return fmt.Errorf("a response (%d) came without a request", status)
	}
	d.seen = true
	now := c.opts.Now()
	if status >= 100 && status < 200 && status != 101 {
		// 100 Continue, 103 Early Hints: the final response follows.
		return nil
	}
	e.Status, e.Reason = status, reason
	e.Resp = &Message{Headers: hs}
	e.ResponseAt = now
	if e.Proto != proto {
		e.Proto = proto
	}
	e.GRPCStatus = headerValue(hs, "grpc-status")
	d.ex, d.msg = e, e.Resp
	switch {
	case status == 101:
		return d.switchProtocols(e)
	case e.Method == "CONNECT" && status/100 == 2:
		e.Upgrade = "tunnel"
		d.end()
		c.mode = modePass
		c.flushAll("")
		return nil
	case e.Method == "HEAD" || status == 204 || status == 304:
		d.end()
		return nil
	}
	if te := headerValue(hs, "Transfer-Encoding"); te != "" {
		if lastCodingChunked(te) {
			d.st = stChunkSize
		} else {
			d.st = stClose
		}
		return nil
	}
	n, err := contentLength(hs)
	if err != nil {
		return fmt.Errorf("response: %w", err)
	}
	switch {
	case n > 0:
		d.st, d.left = stLength, n
	case n == 0:
		d.end()
	default:
		d.st = stClose
	}
	return nil
}

// switchProtocols handles 101: h2c continues as HTTP/2 (its request is
// stream 1); anything else (WebSocket) passes through unparsed.
func (d *h1Dir) switchProtocols(e *Exchange) error {
	c := d.c
	now := c.opts.Now()
	e.Upgrade = strings.ToLower(headerValue(e.Resp.Headers, "Upgrade"))
	held := c.cli.buf
	c.cli.buf = nil
	if e.Upgrade == "h2c" {
		// The answer to the upgrade request comes on stream 1.
		c.pending = nil
		e.reqDone = true
		if e.RequestEnd.IsZero() {
			e.RequestEnd = now
		}
		e.Status, e.Reason, e.Resp, e.ResponseAt = 0, "", nil, timeZero
		c.mode = modeH2
		c.h2 = newH2Conn(c)
		c.h2.adoptUpgrade(e)
		if len(held) > 0 {
			c.feedH2(false, held)
		}
		return nil
	}
	e.reqDone, e.respDone = true, true
	e.ResponseEnd = now
	if e.RequestEnd.IsZero() {
		e.RequestEnd = now
	}
	c.mode = modePass
	c.flushAll("")
	return nil
}

// end finishes the message being read.
func (d *h1Dir) end() {
	c := d.c
	e := d.ex
	d.st, d.ex, d.msg, d.left = stHead, nil, nil, 0
	if e == nil {
		return
	}
	now := c.opts.Now()
	if d.server {
		e.respDone, e.ResponseEnd = true, now
		if c.cli.st == stHold && c.mode == modeH1 {
			// The upgrade was refused: what the client sent meanwhile is
			// ordinary HTTP/1.
			held := c.cli.buf
			c.cli.buf = nil
			c.cli.st = stHead
			c.flushDone()
			if len(held) > 0 {
				c.feed(&c.cli, held)
			}
			return
		}
	} else {
		e.reqDone, e.RequestEnd = true, now
		if e.Method == "CONNECT" || isUpgradeRequest(e.Req.Headers) {
			if !e.respDone {
				d.st = stHold
			}
		}
	}
	c.flushDone()
}

// responseEnd finishes a response delimited by the connection's close.
func (c *Conn) responseEnd() { c.srv.end() }

// isUpgradeRequest: Connection names upgrade and Upgrade says to what.
func isUpgradeRequest(hs []Header) bool {
	return headerValue(hs, "Upgrade") != "" && hasToken(headerValues(hs, "Connection"), "upgrade")
}

func parseRequestLine(l []byte) (method, target, proto string, err error) {
	s := string(l)
	m, rest, ok1 := strings.Cut(s, " ")
	t, p, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || m == "" || t == "" || !isToken(m) || !strings.HasPrefix(p, "HTTP/1.") || len(p) != 8 || strings.ContainsAny(t, " \t") {
		return "", "", "", fmt.Errorf("malformed request line %q", truncate(s, 80))
	}
	return m, t, p, nil
}

func parseStatusLine(l []byte) (proto string, status int, reason string, err error) {
	s := string(l)
	p, rest, _ := strings.Cut(s, " ")
	code, reason, _ := strings.Cut(rest, " ")
	n, cerr := strconv.Atoi(code)
	if !strings.HasPrefix(p, "HTTP/1.") || len(p) != 8 || len(code) != 3 || cerr != nil || n < 100 {
		return "", 0, "", fmt.Errorf("malformed status line %q", truncate(s, 80))
	}
	return p, n, reason, nil
}

func parseHeaders(lines [][]byte) ([]Header, error) {
	if len(lines) > 256 {
		return nil, fmt.Errorf("%d header lines (at most 256)", len(lines))
	}
	hs := make([]Header, 0, len(lines))
	for _, l := range lines {
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			// obs-fold: a continuation of the previous value.
			if len(hs) == 0 {
				return nil, errors.New("a folded line before any header")
			}
			hs[len(hs)-1].Value += " " + strings.TrimSpace(string(l))
			continue
		}
		h, err := parseHeaderLine(l)
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}

func parseHeaderLine(l []byte) (Header, error) {
	name, value, ok := bytes.Cut(l, []byte(":"))
	if !ok || len(name) == 0 || !isToken(string(name)) {
		return Header{}, fmt.Errorf("malformed header line %q", truncate(string(l), 80))
	}
	return Header{Name: string(name), Value: string(bytes.Trim(value, " \t"))}, nil
}

// splitLines splits a head into lines without their line ends, dropping
// the final empty line.
func splitLines(head []byte) [][]byte {
	var out [][]byte
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			i = len(head) - 1
		}
		l := trimEOL(head[:i+1])
		head = head[i+1:]
		if len(l) == 0 && len(head) == 0 {
			break
		}
		out = append(out, l)
	}
	return out
}

func trimEOL(l []byte) []byte {
	l = bytes.TrimSuffix(l, []byte("\n"))
	return bytes.TrimSuffix(l, []byte("\r"))
}

func isBlank(l []byte) bool { return len(trimEOL(l)) == 0 }

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", b) >= 0 {
			return false
		}
	}
	return true
}

func headerValue(hs []Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func headerValues(hs []Header, name string) []string {
	var out []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// hasToken reports whether a comma-separated header list names tok.
func hasToken(values []string, tok string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

func lastCodingChunked(te string) bool {
	parts := strings.Split(te, ",")
	return strings.EqualFold(strings.TrimSpace(parts[len(parts)-1]), "chunked")
}

// contentLength is the body length a head declares, -1 when none.
func contentLength(hs []Header) (int64, error) {
	n := int64(-1)
	for _, v := range headerValues(hs, "Content-Length") {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			m, err := strconv.ParseInt(s, 10, 64)
			if err != nil || m < 0 || strings.HasPrefix(s, "+") {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
			if n >= 0 && m != n {
				return 0, fmt.Errorf("conflicting Content-Length values %d and %d", n, m)
			}
			n = m
		}
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
