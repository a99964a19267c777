package httplog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
)

// ErrNoExchange means the id names no exchange the ring still holds.
var ErrNoExchange = errors.New("no such exchange")

// ErrNotReplayable means the exchange cannot be sent again as it was.
var ErrNotReplayable = errors.New("cannot be replayed")

// ReplayWait bounds how long Replay waits for the log to record the
// replayed exchange before answering from what the client saw.
const ReplayWait = 5 * time.Second

// hopByHop are the headers that belong to one connection, not to the
// request (RFC 9110 7.6.1), and are not replayed.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"TE", "Trailer", "Transfer-Encoding", "Upgrade", "HTTP2-Settings"}

// Replay re-sends exchange id through the forward listening at addr
// (without hop-by-hop headers, on a new connection) and returns the new
// exchange: the one the log recorded, marked as a replay of id, or, when
// logging is off or fell behind, what the client saw.
func (l *Log) Replay(ctx context.Context, id int64, addr string) (*Exchange, error) {
	e := l.Get(id)
	if e == nil {
		return nil, fmt.Errorf("exchange %d: %w (the forward keeps its last %d; list them with GET .../http)", id, ErrNoExchange, l.opts.RingSize)
	}
	switch {
	case e.Req.Truncated:
		return nil, fmt.Errorf("exchange %d %w: its request body was cut at %d of %d bytes", id, ErrNotReplayable, len(e.Req.Body), e.Req.Size)
	case e.Method == "CONNECT" || (e.Upgrade != "" && e.Upgrade != "h2c"):
		return nil, fmt.Errorf("exchange %d %w: it switched protocols (%s); only plain requests can", id, ErrNotReplayable, orUnknown(e.Upgrade))
	case e.Method == "" || e.Path == "":
		return nil, fmt.Errorf("exchange %d %w: its request was not seen whole", id, ErrNotReplayable)
	}
	wait := &replayWait{of: id, done: make(chan *Exchange, 1)}
	var client string
	register := func(c net.Conn) {
		client = c.LocalAddr().String()
		l.mu.Lock()
		l.replays[client] = wait
		l.mu.Unlock()
	}
	defer func() {
		l.mu.Lock()
		if client != "" {
			delete(l.replays, client)
		}
		l.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var (
		seen *Exchange
		err  error
	)
	if e.Proto == "HTTP/2" {
		seen, err = replayH2(ctx, e, addr, register, l.opts.BodyCap)
	} else {
		seen, err = replayH1(ctx, e, addr, register, l.opts.BodyCap)
	}
	if err != nil {
		return nil, fmt.Errorf("replaying exchange %d through %s: %w", id, addr, err)
	}
	if l.Inspector() != nil {
		t := time.NewTimer(ReplayWait)
		defer t.Stop()
		select {
		case got := <-wait.done:
			return got, nil
		case <-t.C:
			seen.Note = "the HTTP log did not record this replay (it fell behind); this is what the client saw"
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	} else {
		seen.Note = "HTTP logging is off for this forward: the replay is not logged; this is what the client saw"
	}
	seen.Forward, seen.Replay, seen.ReplayOf = l.opts.ForwardID, true, id
	seen.setDisplay(l.opts.BodyCap)
	return seen, nil
}

// replayHeaders are e's request headers without hop-by-hop ones (and
// those the Connection header names).
func replayHeaders(e *Exchange) []Header {
	drop := map[string]bool{}
	for _, h := range hopByHop {
		drop[strings.ToLower(h)] = true
	}
	for _, v := range headerValues(e.Req.Headers, "Connection") {
		for _, t := range strings.Split(v, ",") {
			drop[strings.ToLower(strings.TrimSpace(t))] = true
		}
	}
	var out []Header
	for _, h := range e.Req.Headers {
		n := strings.ToLower(h.Name)
		if drop[n] || n == "content-length" || n == "expect" {
			continue
		}
		out = append(out, h)
	}
	return out
}

func replayH1(ctx context.Context, e *Exchange, addr string, register func(net.Conn), bodyCap int) (*Exchange, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	register(conn)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	seen := &Exchange{Method: e.Method, Path: e.Path, Host: e.Host, Proto: "HTTP/1.1", RequestAt: time.Now()}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", e.Method, e.Path)
	seen.Req.Headers = replayHeaders(e)
	for _, h := range seen.Req.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
	}
	if len(e.Req.Body) > 0 || e.Req.Size > 0 || methodHasBody(e.Method) {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(e.Req.Body))
		seen.Req.Headers = append(seen.Req.Headers, Header{Name: "Content-Length", Value: strconv.Itoa(len(e.Req.Body))})
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(e.Req.Body)
	seen.Req.capture(e.Req.Body, bodyCap)
	if _, err := conn.Write(b.Bytes()); err != nil {
		return nil, err
	}
	seen.RequestEnd = time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: e.Method})
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	defer resp.Body.Close()
	return seenResponse(seen, resp, bodyCap)
}

func replayH2(ctx context.Context, e *Exchange, addr string, register func(net.Conn), bodyCap int) (*Exchange, error) {
	tr := &http2.Transport{
		AllowHTTP:          true,
		DisableCompression: true,
		DialTLSContext: func(ctx context.Context, network, _ string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				register(c)
			}
			return c, err
		},
	}
	defer tr.CloseIdleConnections()
	host := e.Host
	if host == "" {
		host = addr
	}
	req, err := http.NewRequestWithContext(ctx, e.Method, "http://"+host+e.Path, bytes.NewReader(e.Req.Body))
	if err != nil {
		return nil, err
	}
	seen := &Exchange{Method: e.Method, Path: e.Path, Host: host, Proto: "HTTP/2", RequestAt: time.Now()}
	seen.Req.Headers = replayHeaders(e)
	for _, h := range seen.Req.Headers {
		if strings.EqualFold(h.Name, "Host") {
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if strings.EqualFold(headerValue(e.Req.Headers, "te"), "trailers") {
		req.Header.Set("Te", "trailers") // gRPC needs it; the one TE HTTP/2 allows
	}
	req.ContentLength = int64(len(e.Req.Body))
	seen.Req.capture(e.Req.Body, bodyCap)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	seen.RequestEnd = time.Now()
	return seenResponse(seen, resp, bodyCap)
}

func seenResponse(seen *Exchange, resp *http.Response, bodyCap int) (*Exchange, error) {
	seen.ResponseAt = time.Now()
	seen.Status = resp.StatusCode
	seen.Reason = strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)+" ")
	seen.Resp = &Message{Headers: headerList(resp.Header)}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		seen.Resp.capture(buf[:n], bodyCap)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the response body: %w", err)
		}
	}
	seen.Resp.Trailers = headerList(resp.Trailer)
	seen.GRPCStatus = headerValue(seen.Resp.Trailers, "grpc-status")
	seen.ResponseEnd = time.Now()
	return seen, nil
}

// headerList lists h's values as header lines.
func headerList(h http.Header) []Header {
	var out []Header
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, Header{Name: k, Value: v})
		}
	}
	return out
}

func methodHasBody(m string) bool { return m == "POST" || m == "PUT" || m == "PATCH" }
