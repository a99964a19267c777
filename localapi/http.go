package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPHeader is one header line, in the order it was sent.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"` // "[redacted]" for sensitive headers unless redaction is off
}

// Redacted is the value shown instead of a sensitive header's.
const Redacted = "[redacted]"

// HTTPMessage is one side of an exchange: a request or a response.
type HTTPMessage struct {
	Headers  []HTTPHeader `json:"headers"`
	Trailers []HTTPHeader `json:"trailers,omitempty"`
	// BodySize is the body's length on the wire after chunked decoding
	// (before content decoding): what Content-Length would say.
	BodySize int64 `json:"body_size"`
	// Body is for people: content-decoded (gzip, deflate, br, zstd), JSON
	// indented, at most the forward's body cap. Empty for a binary body
	// (see BodyNote). Only GET .../http/{id} fills it; lists leave it out.
	Body string `json:"body,omitempty"`
	// BodyNote says why Body is not the whole body: "binary content: N
	// bytes", "truncated at 1048576 bytes", a decoding error.
	BodyNote string `json:"body_note,omitempty"`
}

// HTTPExchange is one logged request and its response.
type HTTPExchange struct {
	// ID numbers the forward's exchanges from 1 in the order they finished;
	// it restarts with the daemon.
	ID      int64  `json:"id"`
	TraceID string `json:"trace_id"` // as in the .http file
	Forward int64  `json:"forward"`  // config id
	Conn    int64  `json:"conn"`     // the local connection's number within the forward
	Stream  uint32 `json:"stream,omitempty"`
	Proto   string `json:"proto"` // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
	Pod     string `json:"pod,omitempty"`

	Method string `json:"method"`
	Path   string `json:"path"` // the request target as sent
	Host   string `json:"host,omitempty"`
	// Status is 0 when no response came (see Note).
	Status     int    `json:"status,omitempty"`
	Reason     string `json:"reason,omitempty"`
	GRPCStatus string `json:"grpc_status,omitempty"`
	// Upgrade is the protocol the connection switched to after this
	// exchange ("websocket", "h2c"); what followed was not parsed (h2c:
	// parsed as HTTP/2).
	Upgrade string `json:"upgrade,omitempty"`
	// Replay marks an exchange sent by POST .../http/{id}/replay; ReplayOf
	// is the id it replayed.
	Replay   bool  `json:"replay,omitempty"`
	ReplayOf int64 `json:"replay_of,omitempty"`
	// Note says what was unusual: no response before the connection
	// closed, the logger fell behind, a reset stream, a parse error.
	Note string `json:"note,omitempty"`

	RequestAt  time.Time `json:"request_at"`
	ResponseAt time.Time `json:"response_at,omitzero"`
	// DurationMS is from the request's first byte to the response's last.
	DurationMS float64 `json:"duration_ms"`

	Request  HTTPMessage  `json:"request"`
	Response *HTTPMessage `json:"response,omitempty"`
}

// HTTPLogStatus is the HTTP log of one forward (Forward.HTTPLog).
type HTTPLogStatus struct {
	Enabled bool `json:"enabled"`
	// Redact is whether sensitive headers (Authorization, Cookie,
	// Set-Cookie, Proxy-Authorization) are hidden; on unless turned off.
	Redact    bool  `json:"redact"`
	Exchanges int64 `json:"exchanges"` // logged since the daemon started
	// DroppedConns counts connections not logged, or cut short, because
	// the logger fell behind the traffic; DroppedBytes their bytes.
	DroppedConns int64 `json:"dropped_conns"`
	DroppedBytes int64 `json:"dropped_bytes"`
	// Errors counts connections whose logging stopped at a parse error.
	Errors int64  `json:"errors"`
	File   string `json:"file,omitempty"` // the .http file being written
}

// HTTPLogSettings is the body of PUT /v1/forwards/{ref}/http: turn logging
// on or off (stored in the config's http_logs_enabled, applied at once
// without restarting the forward) and, optionally, redaction.
type HTTPLogSettings struct {
	Enabled bool  `json:"enabled"`
	Redact  *bool `json:"redact,omitempty"`
}

// HTTPQuery filters exchanges.
type HTTPQuery struct {
	Method string    // exact, any case
	Status string    // "404", or a class: "5xx"
	Path   string    // substring of the request target
	Since  time.Time // finished at or after
	Limit  int       // the last N matching; 0: all the ring holds
}

func (q HTTPQuery) values() url.Values {
	v := url.Values{}
	if q.Method != "" {
		v.Set("method", q.Method)
	}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Path != "" {
		v.Set("path", q.Path)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// ParseHTTPQuery reads a query from URL values (the server's side of
// values).
func ParseHTTPQuery(v url.Values) (HTTPQuery, error) {
	q := HTTPQuery{Method: v.Get("method"), Status: v.Get("status"), Path: v.Get("path")}
	if q.Status != "" {
		if _, _, err := StatusRange(q.Status); err != nil {
			return q, err
		}
	}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			d, derr := time.ParseDuration(s)
			if derr != nil || d < 0 {
				return q, fmt.Errorf("since=%q is neither an RFC 3339 time nor a duration like 5m", s)
			}
			t = time.Now().Add(-d)
		}
		q.Since = t
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, fmt.Errorf("limit=%q is not a whole number", s)
		}
		q.Limit = n
	}
	return q, nil
}

// StatusRange turns a status filter ("404", "5xx", "4XX") into an
// inclusive range.
func StatusRange(s string) (lo, hi int, err error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) == 3 && s[1:] == "xx" && s[0] >= '1' && s[0] <= '5' {
		c := int(s[0]-'0') * 100
		return c, c + 99, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 999 {
		return 0, 0, fmt.Errorf("status %q is not a status code (404) or class (5xx)", s)
	}
	return n, n, nil
}

// Match reports whether e passes the filter.
func (q HTTPQuery) Match(e *HTTPExchange) bool {
	if q.Method != "" && !strings.EqualFold(q.Method, e.Method) {
		return false
	}
	if q.Status != "" {
		lo, hi, err := StatusRange(q.Status)
		if err != nil || e.Status < lo || e.Status > hi {
			return false
		}
	}
	if q.Path != "" && !strings.Contains(e.Path, q.Path) {
		return false
	}
	if !q.Since.IsZero() && e.finished().Before(q.Since) {
		return false
	}
	return true
}

func (e *HTTPExchange) finished() time.Time {
	if !e.ResponseAt.IsZero() {
		return e.ResponseAt
	}
	return e.RequestAt
}

// HTTPPurged is the answer to a purge of HTTP log files.
type HTTPPurged struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

func httpPath(ref string) string {
	return "/forwards/" + url.PathEscape(ref) + "/http"
}

// HTTPExchanges lists the recent exchanges of a forward (alias or id),
// oldest first, without bodies.
func (c *Client) HTTPExchanges(ctx context.Context, ref string, q HTTPQuery) ([]HTTPExchange, error) {
	var out []HTTPExchange
	return out, c.doReq(ctx, request{method: http.MethodGet, path: httpPath(ref), query: q.values()}, &out)
}

// HTTPExchange returns one exchange in full (headers and bodies).
func (c *Client) HTTPExchange(ctx context.Context, ref string, id int64) (HTTPExchange, error) {
	var out HTTPExchange
	return out, c.do(ctx, http.MethodGet, httpPath(ref)+"/"+strconv.FormatInt(id, 10), nil, &out)
}

// SetHTTPLog turns a forward's HTTP log on or off (and its redaction)
// and returns its status.
func (c *Client) SetHTTPLog(ctx context.Context, ref string, s HTTPLogSettings) (HTTPLogStatus, error) {
	var out HTTPLogStatus
	return out, c.do(ctx, http.MethodPut, httpPath(ref), s, &out)
}

// ReplayHTTP re-sends exchange id through the forward (without hop-by-hop
// headers) and returns the new exchange, marked as a replay.
func (c *Client) ReplayHTTP(ctx context.Context, ref string, id int64) (HTTPExchange, error) {
	var out HTTPExchange
	return out, c.do(ctx, http.MethodPost, httpPath(ref)+"/"+strconv.FormatInt(id, 10)+"/replay", struct{}{}, &out)
}

// HTTPHAR returns the forward's matching exchanges as a HAR 1.2 document.
func (c *Client) HTTPHAR(ctx context.Context, ref string, q HTTPQuery) ([]byte, error) {
	var raw json.RawMessage
	return raw, c.doReq(ctx, request{method: http.MethodGet, path: "/forwards/" + url.PathEscape(ref) + "/http.har", query: q.values()}, &raw)
}

// PurgeHTTPLogs deletes the .http files (current and rotated) of a forward
// (alias or id), or of every forward when ref is "", and forgets their
// recent exchanges.
func (c *Client) PurgeHTTPLogs(ctx context.Context, ref string) (HTTPPurged, error) {
	var out HTTPPurged
	p := "/http"
	if ref != "" {
		p = httpPath(ref)
	}
	return out, c.do(ctx, http.MethodDelete, p, nil, &out)
}

// FollowHTTP calls f with each new exchange of a forward (ref "" for every
// forward) that passes q, until ctx ends, the daemon closes the stream, or
// f returns an error, which it returns. This stream is separate from the
// state events. A reader that falls far behind is disconnected.
func (c *Client) FollowHTTP(ctx context.Context, ref string, q HTTPQuery, f func(HTTPExchange) error) error {
	p := "/http/events"
	if ref != "" {
		p = httpPath(ref) + "/events"
	}
	return follow(ctx, c, request{method: http.MethodGet, path: p, query: q.values()}, "HTTP log stream", f)
}
