package localapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/kftray-go/kftray/fwdconfig"
)

// ErrNotRunning means no daemon answers on the socket.
var ErrNotRunning = errors.New("the kftray daemon is not running")

// StatusError is a non-2xx answer.
type StatusError struct {
	Code   int
	Msg    string
	Fields []FieldError // per-field problems of a refused config, if any
}

func (e *StatusError) Error() string { return e.Msg }

// FieldErrors returns the per-field problems of a refused config (400 from
// CreateConfig, UpdateConfig, ValidateConfig); nil for other errors.
func (e *StatusError) FieldErrors() []FieldError { return e.Fields }

// FieldErrors returns the per-field problems in err when it is a refused
// config, else nil: a form shows each next to its field.
func FieldErrors(err error) []FieldError {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Fields
	}
	return nil
}

// Client talks to a daemon.
type Client struct {
	hc    *http.Client
	base  string
	token string
	where string // for messages
}

// NewUnixClient returns a client for the daemon listening on socket.
func NewUnixClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 4,
	}
	return &Client{hc: &http.Client{Transport: tr}, base: "http://kftray", where: socket}
}

// NewTCPClient returns a client for the daemon's loopback TCP address
// (host:port), authenticating with token.
func NewTCPClient(addr, token string) *Client {
	return &Client{hc: &http.Client{}, base: "http://" + addr, token: token, where: addr}
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Status describes the daemon.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/status", nil, &s)
}

// Forwards lists every config with its state.
func (c *Client) Forwards(ctx context.Context) ([]Forward, error) {
	var fs []Forward
	return fs, c.do(ctx, http.MethodGet, "/forwards", nil, &fs)
}

// Forward returns one config (by alias or id) with its state.
func (c *Client) Forward(ctx context.Context, ref string) (Forward, error) {
	var f Forward
	return f, c.do(ctx, http.MethodGet, "/forwards/"+url.PathEscape(ref), nil, &f)
}

// Start starts the selected forwards and returns once each runs or failed.
func (c *Client) Start(ctx context.Context, sel Selection) (Results, error) {
	var r Results
	return r, c.do(ctx, http.MethodPost, "/forwards/start", sel, &r)
}

// Stop stops the selected forwards.
func (c *Client) Stop(ctx context.Context, sel Selection) (Results, error) {
	var r Results
	return r, c.do(ctx, http.MethodPost, "/forwards/stop", sel, &r)
}

// ImportConfigs merges kftray JSON (an array or one object) into the
// configs, all or nothing.
func (c *Client) ImportConfigs(ctx context.Context, data []byte) (fwdconfig.ImportResult, error) {
	var r fwdconfig.ImportResult
	if !json.Valid(data) {
		return r, errors.New("the configs to import are not valid JSON")
	}
	return r, c.do(ctx, http.MethodPost, "/configs/import", json.RawMessage(data), &r)
}

// ExportConfigs returns every config as kftray JSON.
func (c *Client) ExportConfigs(ctx context.Context) ([]byte, error) {
	var raw json.RawMessage
	return raw, c.do(ctx, http.MethodGet, "/configs/export", nil, &raw)
}

// DeleteConfig stops a config's forward and deletes the config; it
// returns the deleted config's id.
func (c *Client) DeleteConfig(ctx context.Context, ref string) (int64, error) {
	var r struct {
		Deleted int64 `json:"deleted"`
	}
	return r.Deleted, c.do(ctx, http.MethodDelete, "/configs/"+url.PathEscape(ref), nil, &r)
}

// Shutdown asks the daemon to stop. It returns once the daemon accepted;
// the daemon then stops its forwards and exits.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/shutdown", struct{}{}, nil)
}

// Events calls f for each event (first a snapshot of every forward, then
// every change) until ctx ends, the daemon closes the stream, or f returns
// an error, which Events returns.
func (c *Client) Events(ctx context.Context, f func(Event) error) error {
	return follow(ctx, c, request{method: http.MethodGet, path: "/events"}, "event stream", f)
}

// follow opens the event stream req asks for and calls f with each
// event's data decoded as a T, until ctx ends, the stream ends or f fails.
func follow[T any](ctx context.Context, c *Client, req request, what string, f func(T) error) error {
	resp, err := c.sendReq(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	what += " from " + c.where
	return readSSE(ctx, resp.Body, what, func(data []byte) error {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return f(v)
	})
}

// readSSE calls f with the data of each server-sent event on r until r
// ends, ctx ends or f fails.
func readSSE(ctx context.Context, r io.Reader, what string, f func(data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if len(data) == 0 {
				continue
			}
			if err := f(data); err != nil {
				return err
			}
			data = data[:0]
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data, line[len("data: "):]...)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	return c.doReq(ctx, request{method: method, path: path, body: body}, out)
}

// request is one call: path under Version, optional query, headers and
// JSON body.
type request struct {
	method, path string
	query        url.Values
	header       http.Header
	body         any
}

func (c *Client) doReq(ctx context.Context, r request, out any) error {
	resp, err := c.sendReq(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.decode(resp, r, out)
}

func (c *Client) decode(resp *http.Response, r request, out any) error {
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the daemon's answer to %s %s: %w", r.method, r.path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	return c.sendReq(ctx, request{method: method, path: path, body: body})
}

func (c *Client) sendReq(ctx context.Context, r request) (*http.Response, error) {
	var rd io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + Version + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if isNotRunning(err) {
			return nil, fmt.Errorf("%w (nothing listens on %s)", ErrNotRunning, c.where)
		}
		return nil, fmt.Errorf("talking to the kftray daemon at %s: %w", c.where, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &StatusError{Code: resp.StatusCode, Msg: e.Error, Fields: e.Fields}
	}
	return resp, nil
}

func isNotRunning(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOENT)
}
