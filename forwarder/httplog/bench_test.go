package httplog

import (
	"path/filepath"
	"testing"

	"github.com/kftray-go/kftray/forwarder/inspect"
)

// BenchmarkKeepAliveExchange is the log's cost per small keep-alive
// exchange (parse, record, format, file), on the worker.
func BenchmarkKeepAliveExchange(b *testing.B) {
	l := New(Options{ForwardID: 1, Redact: true, File: NewFile(filepath.Join(b.TempDir(), DirName), 1, 80, 100<<20)})
	defer l.Close()
	c := l.Open(inspect.ConnInfo{ID: 1})
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1\r\nAccept: */*\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\n\r\nweb-7d9c-abc")
	b.ReportAllocs()
	for b.Loop() {
		c.ClientBytes(req)
		c.ServerBytes(resp)
	}
	c.Close(nil)
}
