package localapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Log levels, lowest first (zerolog's names).
var LogLevels = []string{"trace", "debug", "info", "warn", "error", "fatal", "panic"}

// DefaultLogTail and MaxLogTail bound how many lines a daemon log read
// returns.
const (
	DefaultLogTail = 200
	MaxLogTail     = 5000
)

// LogLine is one line of the daemon's log (daemon.log, JSON lines).
type LogLine struct {
	Time    time.Time `json:"time,omitzero"`
	Level   string    `json:"level,omitempty"` // "" for a line that is not JSON (a crash's output)
	Message string    `json:"message"`
	// Fields are the line's other fields (pid, error, config, ...).
	Fields map[string]any `json:"fields,omitempty"`
}

// LogQuery selects daemon log lines.
type LogQuery struct {
	// Level is the lowest level shown ("" every line). Lines that are not
	// JSON (a crash's output) are always shown.
	Level string
	// Tail is how many of the last matching lines to return; 0 means
	// DefaultLogTail, at most MaxLogTail.
	Tail int
}

func (q LogQuery) values() url.Values {
	v := url.Values{}
	if q.Level != "" {
		v.Set("level", q.Level)
	}
	if q.Tail != 0 {
		v.Set("tail", strconv.Itoa(q.Tail))
	}
	return v
}

// DaemonLog returns the last lines of the daemon's log, oldest first.
func (c *Client) DaemonLog(ctx context.Context, q LogQuery) ([]LogLine, error) {
	var out []LogLine
	return out, c.doReq(ctx, request{method: http.MethodGet, path: "/logs/daemon", query: q.values()}, &out)
}

// FollowDaemonLog calls f with the last lines of the daemon's log (as
// DaemonLog) and then with each new line, until ctx ends, the daemon
// closes the stream, or f returns an error, which it returns.
func (c *Client) FollowDaemonLog(ctx context.Context, q LogQuery, f func(LogLine) error) error {
	v := q.values()
	v.Set("follow", "1")
	return follow(ctx, c, request{method: http.MethodGet, path: "/logs/daemon", query: v}, "daemon log stream", f)
}
