package httplog

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// recorder is a Sink that keeps what it is given.
type recorder struct {
	ex   []*Exchange
	errs []error
}

func (r *recorder) Exchange(e *Exchange)                     { r.ex = append(r.ex, e) }
func (r *recorder) ParseError(_ inspect.ConnInfo, err error) { r.errs = append(r.errs, err) }

// step is bytes one side sends, or a call.
type step struct {
	server  bool
	data    string
	discard bool // a Discard (the attempt was refused and is replayed)
}

func cli(s string) step { return step{data: s} }
func srv(s string) step { return step{server: true, data: s} }

// splits feed a script whole, byte by byte, and in random pieces: the
// parser must not care where the copy loop's reads end.
var splits = []struct {
	name  string
	split func([]byte, *rand.Rand) [][]byte
}{
	{"whole", func(b []byte, _ *rand.Rand) [][]byte { return [][]byte{b} }},
	{"bytes", func(b []byte, _ *rand.Rand) [][]byte {
		out := make([][]byte, len(b))
		for i := range b {
			out[i] = b[i : i+1]
		}
		return out
	}},
	{"random", func(b []byte, r *rand.Rand) [][]byte {
		var out [][]byte
		for len(b) > 0 {
			n := 1 + r.IntN(min(len(b), 7))
			out, b = append(out, b[:n]), b[n:]
		}
		return out
	}},
}

func run(t *testing.T, steps []step, closeErr error, split func([]byte, *rand.Rand) [][]byte) *recorder {
	t.Helper()
	rec := &recorder{}
	c := NewConn(inspect.ConnInfo{ID: 1}, rec, ParseOptions{BodyCap: 64})
	c.Attempt(inspect.Attempt{N: 1, Namespace: "ns", Pod: "p1"})
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range steps {
		if s.discard {
			c.Discard(errors.New("refused"))
			c.Attempt(inspect.Attempt{N: 2, Namespace: "ns", Pod: "p2"})
			continue
		}
		for _, p := range split([]byte(s.data), r) {
			// The copy loop's buffer is reused: the parser must not keep it.
			buf := append([]byte(nil), p...)
			if s.server {
				c.ServerBytes(buf)
			} else {
				c.ClientBytes(buf)
			}
			for i := range buf {
				buf[i] = 'X'
			}
		}
	}
	c.Close(closeErr)
	return rec
}

// want is an exchange's expected summary.
type want struct {
	method, path string
	status       int
	reqBody      string
	respBody     string
	note         string // substring
	upgrade      string
	trailer      string // "Name: value" of a response trailer
}

func summary(e *Exchange) want {
	w := want{method: e.Method, path: e.Path, status: e.Status, reqBody: string(e.Req.Body), note: e.Note, upgrade: e.Upgrade}
	if e.Resp != nil {
		w.respBody = string(e.Resp.Body)
		for _, h := range e.Resp.Trailers {
			w.trailer = h.Name + ": " + h.Value
		}
	}
	return w
}

func TestHTTP1(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step
		closeErr error
		want     []want
	}{
		{
			name: "keep-alive, three exchanges",
			steps: []step{
				cli("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), srv("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
				cli("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"), srv("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
				cli("GET /c HTTP/1.1\r\nHost: x\r\n\r\n"), srv("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!"),
			},
			want: []want{
				{method: "GET", path: "/a", status: 200, respBody: "ok"},
				{method: "POST", path: "/b", status: 201, reqBody: "hello"},
				{method: "GET", path: "/c", status: 404, respBody: "no!"},
			},
		},
		{
			name: "pipelining",
			steps: []step{
				cli("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPUT /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nzGET /3 HTTP/1.1\r\nHost: x\r\n\r\n"),
				srv("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nbHTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\nc"),
			},
			want: []want{
				{method: "GET", path: "/1", status: 200, respBody: "a"},
				{method: "PUT", path: "/2", status: 200, reqBody: "z", respBody: "b"},
				{method: "GET", path: "/3", status: 500, respBody: "c"},
			},
		},
		{
			name: "chunked both ways, with trailers",
			steps: []step{
				cli("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"),
				srv("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nTrailer: Grpc-Status\r\n\r\nA\r\n0123456789\r\n0\r\nGrpc-Status: 0\r\n\r\n"),
				cli("GET /next HTTP/1.1\r\n\r\n"), srv("HTTP/1.1 204 No Content\r\n\r\n"),
			},
			want: []want{
				{method: "POST", path: "/up", status: 200, reqBody: "abcde", respBody: "0123456789", trailer: "Grpc-Status: 0"},
				{method: "GET", path: "/next", status: 204},
			},
		},
		{
			name: "body delimited by close",
			steps: []step{
				cli("GET /stream HTTP/1.0\r\n\r\n"),
				srv("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this"), srv(" until the end"),
			},
			want: []want{{method: "GET", path: "/stream", status: 200, respBody: "all of this until the end"}},
		},
		{
			name: "Expect: 100-continue",
			steps: []step{
				cli("PUT /f HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
				srv("HTTP/1.1 100 Continue\r\n\r\n"),
				cli("data"),
				srv("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
			},
			want: []want{{method: "PUT", path: "/f", status: 200, reqBody: "data", respBody: "ok"}},
		},
		{
			name: "HEAD, 204 and 304 have no body whatever their headers say",
			steps: []step{
				cli("HEAD /big HTTP/1.1\r\n\r\nGET /none HTTP/1.1\r\n\r\nGET /same HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\nGET /last HTTP/1.1\r\n\r\n"),
				srv("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
				srv("HTTP/1.1 204 No Content\r\n\r\n"),
				srv("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"),
				srv("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!"),
			},
			want: []want{
				{method: "HEAD", path: "/big", status: 200},
				{method: "GET", path: "/none", status: 204},
				{method: "GET", path: "/same", status: 304},
				{method: "GET", path: "/last", status: 200, respBody: "!"},
			},
		},
		{
			name: "WebSocket upgrade: the handshake, then nothing",
			steps: []step{
				cli("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n"),
				srv("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"),
				cli("\x81\x85abcdGET / HTTP/1.1\r\n\r\n"), srv("garbage \x00\x01"),
			},
			want: []want{{method: "GET", path: "/ws", status: 101, upgrade: "websocket"}},
		},
		{
			name: "upgrade refused: the connection stays HTTP/1",
			steps: []step{
				cli("GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"),
				srv("HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno"),
				cli("GET /again HTTP/1.1\r\n\r\n"), srv("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
			},
			want: []want{
				{method: "GET", path: "/ws", status: 400, respBody: "no"},
				{method: "GET", path: "/again", status: 200},
			},
		},
		{
			name: "CONNECT tunnel",
			steps: []step{
				cli("CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n"),
				srv("HTTP/1.1 200 Connection established\r\n\r\n"),
				cli("\x00\x00\x00\x08\x04\xd2\x16\x2f"), srv("N"),
			},
			want: []want{{method: "CONNECT", path: "db:5432", status: 200, upgrade: "tunnel"}},
		},
		{
			name:  "not HTTP: a binary protocol",
			steps: []step{cli("\x00\x00\x00\x08\x04\xd2\x16\x2f"), srv("N"), cli("GET / HTTP/1.1\r\n\r\n")},
		},
		{
			name:  "not HTTP: the server speaks first",
			steps: []step{srv("220 smtp.example ESMTP\r\n"), cli("EHLO me\r\n")},
		},
		{
			name:  "not HTTP: a text protocol with an HTTP-looking start",
			steps: []step{cli("SET key 0 0 5\r\nvalue\r\n"), srv("STORED\r\n")},
		},
		{
			name: "a refused attempt is replayed: the request is logged once",
			steps: []step{
				cli("POST /once HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
				{discard: true},
				srv("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
			},
			want: []want{{method: "POST", path: "/once", status: 200, reqBody: "abc"}},
		},
		{
			name: "no response before the close",
			steps: []step{
				cli("GET /slow HTTP/1.1\r\n\r\n"), srv("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
			},
			closeErr: errors.New("pod went away"),
			want:     []want{{method: "GET", path: "/slow", status: 200, respBody: "abc", note: "pod went away"}},
		},
		{
			name:     "the logger fell behind",
			steps:    []step{cli("GET /x HTTP/1.1\r\n\r\n")},
			closeErr: inspect.ErrFellBehind,
			want:     []want{{method: "GET", path: "/x", note: "fell behind"}},
		},
		{
			name: "a parse error after the first request ends logging",
			steps: []step{
				cli("GET /ok HTTP/1.1\r\n\r\n"), srv("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
				cli("GET /bad HTTP/1.1\r\nBad Header\r\n\r\n"),
				cli("GET /after HTTP/1.1\r\n\r\n"), srv("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
			},
			want: []want{{method: "GET", path: "/ok", status: 200}},
		},
		{
			name: "bodies are capped, sizes are not",
			steps: []step{
				cli("GET /big HTTP/1.1\r\n\r\n"), srv("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100)),
			},
			want: []want{{method: "GET", path: "/big", status: 200, respBody: strings.Repeat("x", 64)}},
		},
	}
	for _, tt := range tests {
		for _, sp := range splits {
			t.Run(tt.name+"/"+sp.name, func(t *testing.T) {
				rec := run(t, tt.steps, tt.closeErr, sp.split)
				var got []want
				for _, e := range rec.ex {
					got = append(got, summary(e))
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d exchanges, want %d:\n%+v", len(got), len(tt.want), got)
				}
				for i := range got {
					w, g := tt.want[i], got[i]
					if w.note == "" && g.note != "" || !strings.Contains(g.note, w.note) {
						t.Errorf("exchange %d note %q, want %q", i, g.note, w.note)
					}
					g.note, w.note = "", ""
					if g != w {
						t.Errorf("exchange %d:\n got %+v\nwant %+v", i, g, w)
					}
				}
				for _, e := range rec.ex {
					if e.Pod == "" || e.Conn != 1 {
						t.Errorf("exchange %s %s: pod %q conn %d", e.Method, e.Path, e.Pod, e.Conn)
					}
				}
				wantErr := strings.Contains(tt.name, "parse error")
				if (len(rec.errs) > 0) != wantErr {
					t.Errorf("parse errors %v, want some: %v", rec.errs, wantErr)
				}
			})
		}
	}
}

func TestHTTP1Sizes(t *testing.T) {
	rec := run(t, []step{
		cli("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n" + strings.Repeat("y", 80) + "\r\n0\r\n\r\n"),
		srv("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100)),
	}, nil, splits[0].split)
	if len(rec.ex) != 1 {
		t.Fatalf("got %d exchanges", len(rec.ex))
	}
	e := rec.ex[0]
	if e.Req.Size != 80 || !e.Req.Truncated || len(e.Req.Body) != 64 {
		t.Errorf("request body size %d truncated %v kept %d; want 80, true, 64", e.Req.Size, e.Req.Truncated, len(e.Req.Body))
	}
	if e.Resp.Size != 100 || !e.Resp.Truncated {
		t.Errorf("response body size %d truncated %v; want 100, true", e.Resp.Size, e.Resp.Truncated)
	}
	if e.RequestAt.IsZero() || e.ResponseEnd.Before(e.RequestAt) {
		t.Errorf("times: request %v response end %v", e.RequestAt, e.ResponseEnd)
	}
}

// h2frames builds HTTP/2 traffic with x/net/http2's own writer.
type h2frames struct {
	buf bytes.Buffer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func newH2Frames() *h2frames {
	f := &h2frames{}
	f.fr = http2.NewFramer(&f.buf, nil)
	f.enc = hpack.NewEncoder(&f.hb)
	return f
}

func (f *h2frames) headers(id uint32, end bool, kv ...string) *h2frames {
	f.hb.Reset()
	for i := 0; i < len(kv); i += 2 {
		_ = f.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	block := f.hb.Bytes()
	// Split big blocks into HEADERS + CONTINUATION to exercise both.
	first := block
	if len(block) > 10 {
		first = block[:10]
	}
	_ = f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(first) == len(block)})
	if rest := block[len(first):]; len(rest) > 0 {
		_ = f.fr.WriteContinuation(id, true, rest)
	}
	return f
}

func (f *h2frames) data(id uint32, end bool, s string) *h2frames {
	_ = f.fr.WriteData(id, end, []byte(s))
	return f
}

func (f *h2frames) padded(id uint32, end bool, s string) *h2frames {
	_ = f.fr.WriteDataPadded(id, end, []byte(s), []byte{0, 0, 0})
	return f
}

func (f *h2frames) settings(s ...http2.Setting) *h2frames { _ = f.fr.WriteSettings(s...); return f }
func (f *h2frames) rst(id uint32) *h2frames {
	_ = f.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	return f
}
func (f *h2frames) String() string { s := f.buf.String(); f.buf.Reset(); return s }

func TestHTTP2(t *testing.T) {
	c, s := newH2Frames(), newH2Frames()
	steps := []step{
		cli(h2Preface + c.settings().String()),
		srv(s.settings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 8192}).String()),
		cli(c.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "web", ":path", "/a", "accept", "text/plain").String()),
		cli(c.headers(3, false, ":method", "POST", ":scheme", "http", ":authority", "web", ":path", "/pkg.Svc/Call",
			"content-type", "application/grpc", "te", "trailers").String()),
		cli(c.data(3, true, "\x00\x00\x00\x00\x02hi").String()),
		srv(s.headers(3, false, ":status", "200", "content-type", "application/grpc").String()),
		srv(s.headers(1, false, ":status", "200", "content-type", "text/plain").padded(1, false, "hello ").String()),
		srv(s.data(3, false, "\x00\x00\x00\x00\x02yo").headers(3, true, "grpc-status", "7", "grpc-message", "denied").String()),
		srv(s.data(1, true, "world").String()),
		cli(c.headers(5, true, ":method", "GET", ":scheme", "http", ":authority", "web", ":path", "/cancelled").String()),
		cli(c.rst(5).String()),
		cli(c.headers(7, true, ":method", "GET", ":scheme", "http", ":authority", "web", ":path", "/open").String()),
	}
	for _, sp := range splits {
		t.Run(sp.name, func(t *testing.T) {
			rec := run(t, steps, nil, sp.split)
			if len(rec.errs) > 0 {
				t.Fatalf("parse errors: %v", rec.errs)
			}
			var got []string
			for _, e := range rec.ex {
				got = append(got, fmt.Sprintf("%d %s %s %d grpc=%s req=%q resp=%q proto=%s note=%q", e.Stream, e.Method, e.Path, e.Status, e.GRPCStatus,
					e.Req.Body, respBody(e), e.Proto, e.Note))
			}
			want := []string{
				`3 POST /pkg.Svc/Call 200 grpc=7 req="\x00\x00\x00\x00\x02hi" resp="\x00\x00\x00\x00\x02yo" proto=HTTP/2 note=""`,
				`1 GET /a 200 grpc= req="" resp="hello world" proto=HTTP/2 note=""`,
				`5 GET /cancelled 0 grpc= req="" resp="" proto=HTTP/2 note="the client reset the stream (CANCEL)"`,
				`7 GET /open 0 grpc= req="" resp="" proto=HTTP/2 note="the connection closed before the response ended"`,
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func respBody(e *Exchange) string {
	if e.Resp == nil {
		return ""
	}
	return string(e.Resp.Body)
}

func TestH2CUpgrade(t *testing.T) {
	c, s := newH2Frames(), newH2Frames()
	steps := []step{
		cli("GET /up HTTP/1.1\r\nHost: web\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"),
		srv("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" + s.settings().String() +
			s.headers(1, false, ":status", "200").data(1, true, "upgraded").String()),
		cli(h2Preface + c.settings().String()),
		cli(c.headers(3, true, ":method", "GET", ":scheme", "http", ":authority", "web", ":path", "/next").String()),
		srv(s.headers(3, true, ":status", "404").String()),
	}
	for _, sp := range splits {
		t.Run(sp.name, func(t *testing.T) {
			rec := run(t, steps, nil, sp.split)
			if len(rec.errs) > 0 {
				t.Fatalf("parse errors: %v", rec.errs)
			}
			var got []string
			for _, e := range rec.ex {
				got = append(got, fmt.Sprintf("%d %s %s %d %q %s up=%s", e.Stream, e.Method, e.Path, e.Status, respBody(e), e.Proto, e.Upgrade))
			}
			want := []string{`1 GET /up 200 "upgraded" HTTP/2 up=h2c`, `3 GET /next 404 "" HTTP/2 up=`}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
