package httplog

import (
	"time"
)

// Header is one header line, in the order it was sent.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Redacted is the value shown instead of a sensitive header's.
const Redacted = "[redacted]"

// Message is one side of an exchange as the parser saw it.
type Message struct {
	Headers  []Header
	Trailers []Header
	// Body is the body after chunked decoding (still content-encoded), at
	// most the body cap; Size counts all of it.
	Body      []byte
	Size      int64
	Truncated bool
}

// capture appends body bytes up to limit, counting all of them.
func (m *Message) capture(p []byte, limit int) {
	m.Size += int64(len(p))
	if room := limit - len(m.Body); room > 0 {
		if len(p) > room {
			p, m.Truncated = p[:room], true
		}
		m.Body = append(m.Body, p...)
	} else if len(p) > 0 {
		m.Truncated = true
	}
}

// Exchange is one request and its response (nil when none came).
type Exchange struct {
	// Set by the Log when the exchange is recorded.
	ID      int64
	TraceID string
	Forward int64

	Conn   int64
	Stream uint32 // HTTP/2 stream id, 0 for HTTP/1
	Proto  string
	Pod    string

	Method, Path, Host string
	Status             int
	Reason             string
	GRPCStatus         string
	Upgrade            string
	Note               string
	Replay             bool
	ReplayOf           int64

	RequestAt, RequestEnd   time.Time
	ResponseAt, ResponseEnd time.Time

	Req  Message
	Resp *Message

	reqDone, respDone bool
	client            string // the local client's address
	// For display, set when the exchange is recorded.
	reqText, reqNote, respText, respNote string
}

var timeZero time.Time

// RequestBody and ResponseBody are the bodies for display (decoded, JSON
// indented, at most the body cap) and what they leave out; set when the
// exchange is recorded.
func (e *Exchange) RequestBody() (text, note string)  { return e.reqText, e.reqNote }
func (e *Exchange) ResponseBody() (text, note string) { return e.respText, e.respNote }

// setDisplay renders the bodies for display once, when the exchange is
// recorded: the file, the API and the HAR export all show them.
func (e *Exchange) setDisplay(limit int) {
	e.reqText, e.reqNote = display(&e.Req, limit)
	e.respText, e.respNote = display(e.Resp, limit)
}

// Duration is from the request's first byte to the response's last.
func (e *Exchange) Duration() time.Duration {
	if e.ResponseEnd.IsZero() {
		return 0
	}
	return e.ResponseEnd.Sub(e.RequestAt)
}

// size is roughly what the exchange holds in memory.
func (e *Exchange) size() int {
	n := 512 + len(e.Path) + len(e.Req.Body) + headersSize(e.Req.Headers) + headersSize(e.Req.Trailers) +
		len(e.reqText) + len(e.reqNote) + len(e.respText) + len(e.respNote)
	if e.Resp != nil {
		n += len(e.Resp.Body) + headersSize(e.Resp.Headers) + headersSize(e.Resp.Trailers)
	}
	return n
}

func headersSize(hs []Header) int {
	n := 0
	for _, h := range hs {
		n += len(h.Name) + len(h.Value) + 32
	}
	return n
}
