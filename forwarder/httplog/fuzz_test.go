package httplog

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// FuzzHTTP1 feeds arbitrary client and server bytes to the parser, in
// rounds (a piece of the client's, then a piece of the server's), twice:
// each piece whole, and byte by byte. The parser must not panic, must keep
// its bounds, and must find the same exchanges however reads are split.
// Seeds: testdata/fuzz/FuzzHTTP1 and the f.Add calls.
func FuzzHTTP1(f *testing.F) {
	for _, s := range [][2]string{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"},
		{"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.0 200 OK\r\n\r\nclose-delimited"},
		{"PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00"},
		{"HEAD / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"},
		{"\x00\x00\x00\x08\x04\xd2\x16\x2f", "N"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), uint8(16))
	}
	f.Fuzz(func(t *testing.T, client, server []byte, piece uint8) {
		size := int(piece%64) + 1
		whole := fuzzRun(client, server, size, false)
		bytewise := fuzzRun(client, server, size, true)
		if whole != bytewise {
			t.Fatalf("the split of reads changed the result:\nwhole:\n%s\nbyte by byte:\n%s", whole, bytewise)
		}
	})
}

func fuzzRun(client, server []byte, size int, bytewise bool) string {
	rec := &recorder{}
	const limit = 32
	c := NewConn(inspect.ConnInfo{ID: 1}, rec, ParseOptions{BodyCap: limit})
	feed := func(p []byte, srv bool) {
		send := c.ClientBytes
		if srv {
			send = c.ServerBytes
		}
		if !bytewise {
			send(p)
			return
		}
		for i := range p {
			send(p[i : i+1])
		}
	}
	for len(client) > 0 || len(server) > 0 {
		n := min(size, len(client))
		feed(client[:n], false)
		client = client[n:]
		n = min(size, len(server))
		feed(server[:n], true)
		server = server[n:]
		if len(c.cli.buf) > maxHead+maxHold || len(c.srv.buf) > maxHead || len(c.pending) > maxPending {
			panic(fmt.Sprintf("bounds: client buffer %d, server buffer %d, pending %d", len(c.cli.buf), len(c.srv.buf), len(c.pending)))
		}
	}
	c.Close(nil)
	var b strings.Builder
	for _, e := range rec.ex {
		resp := ""
		if e.Resp != nil {
			if len(e.Resp.Body) > limit {
				panic("response body over the cap")
			}
			resp = fmt.Sprintf("%q %d %v %v", e.Resp.Body, e.Resp.Size, e.Resp.Headers, e.Resp.Trailers)
		}
		if len(e.Req.Body) > limit {
			panic("request body over the cap")
		}
		fmt.Fprintf(&b, "%s %q %s %d %q up=%s req=%q %d %v resp=%s note=%q\n", e.Method, e.Path, e.Proto, e.Status, e.Reason, e.Upgrade,
			e.Req.Body, e.Req.Size, e.Req.Headers, resp, e.Note)
	}
	fmt.Fprintf(&b, "errors: %d\n", len(rec.errs))
	return b.String()
}
