// Package localapi is the client side of the kftray daemon's local
// HTTP/JSON API: the types on the wire, the Go client (over the unix
// socket, or 127.0.0.1 with the bearer token), the daemon's files in the
// config directory, and Ensure, which starts the daemon when none runs.
// The CLI, the TUI, the web UI and MCP use it. docs/api.md documents the
// API; forwarder/httpapi serves it.
//
// It is small to import: it links neither SQLite nor client-go nor gRPC
// (TestDeps holds that), only the config model (fwdconfig).
package localapi

import (
	"fmt"
	"strings"
	"time"

	"github.com/kftray-go/kftray/fwdconfig"
)

// Version is the path prefix of this revision of the API.
const Version = "/v1"

// Forward statuses. They are the store's, plus "starting" (the daemon is
// bringing the forward up) which only the live view shows.
const (
	StatusStarting = "starting"
	StatusRunning  = string(fwdconfig.StatusRunning)
	StatusRetrying = string(fwdconfig.StatusRetrying)
	StatusFailed   = string(fwdconfig.StatusFailed)
	StatusStopped  = string(fwdconfig.StatusStopped)
)

// Forward is one config and where its forward stands.
type Forward struct {
	ID     int64            `json:"id"`
	Name   string           `json:"name"` // alias, else what it targets
	Config fwdconfig.Config `json:"config"`

	Status string `json:"status"` // starting | running | retrying | failed | stopped
	// Desired is true when the forward should run: the daemon restores it
	// when it starts. `kftray stop` clears it; stopping the daemon does not.
	Desired bool `json:"desired"`
	// PID owns the forward: the daemon, or a `kftray run` process. 0 when
	// nothing runs it.
	PID       int       `json:"pid,omitempty"`
	Address   string    `json:"address,omitempty"` // bound local host:port
	Pod       string    `json:"pod,omitempty"`     // pod currently forwarded to
	Transport string    `json:"transport,omitempty"`
	Attempt   int       `json:"attempt,omitempty"` // failed attempts since the last success
	LastError string    `json:"last_error,omitempty"`
	NextTry   time.Time `json:"next_try,omitzero"`
	Since     time.Time `json:"since,omitzero"` // when Status was entered (live forwards only)
	UpdatedAt time.Time `json:"updated_at,omitzero"`

	ActiveConns  int64 `json:"active_conns"`
	TotalConns   int64 `json:"total_conns"`
	BytesToPod   int64 `json:"bytes_to_pod"`
	BytesFromPod int64 `json:"bytes_from_pod"`
	Reconnects   int64 `json:"reconnects"`

	// HTTPLog is the forward's HTTP traffic log while this daemon runs
	// the forward; nil otherwise.
	HTTPLog *HTTPLogStatus `json:"http_log,omitempty"`

	// Kube is the kubeconfig and context the daemon uses (or will use at
	// its next restore) for a config that names no kubeconfig: those of
	// the client that started it. Absent when the config names its own,
	// or when the daemon falls back to its own environment.
	Kube *KubeEnv `json:"kube,omitempty"`
}

// Selection names forwards: config aliases or ids, or all of them.
type Selection struct {
	Refs []string `json:"refs,omitempty"`
	All  bool     `json:"all,omitempty"`
	// Kube, on start, is the kubeconfig the client means for configs that
	// name none (kubeconfig empty or "default"). Without it the daemon
	// uses its own environment, which is that of whoever started it.
	Kube *KubeEnv `json:"kube,omitempty"`
}

// KubeEnv is a client's kubeconfig as it sees it: never file contents,
// only where the files are and which context is current.
type KubeEnv struct {
	// Kubeconfig is the KUBECONFIG path list (absolute paths joined by the
	// OS list separator), or ~/.kube/config, resolved by the client.
	Kubeconfig string `json:"kubeconfig"`
	// Context is the current context the client reads from those files;
	// empty when it could not read one (the daemon then uses the files'
	// current context, and says why not when there is none).
	Context string `json:"context,omitempty"`
}

// Result is what happened to one selected forward.
type Result struct {
	Ref     string   `json:"ref"`               // as given (or the id for --all)
	Forward *Forward `json:"forward,omitempty"` // nil when Ref names no config
	Error   string   `json:"error,omitempty"`
}

// Results is the answer to start and stop. The request succeeds as a whole
// (HTTP 200) even when some forwards fail; each Result says how it went.
type Results struct {
	Results []Result `json:"results"`
}

// Failed counts the results with an error.
func (r Results) Failed() int {
	n := 0
	for _, x := range r.Results {
		if x.Error != "" {
			n++
		}
	}
	return n
}

// Status describes the daemon.
type Status struct {
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	ConfigDir string    `json:"config_dir"`
	Socket    string    `json:"socket"`
	HTTPAddr  string    `json:"http_addr,omitempty"` // 127.0.0.1:PORT, token-protected
	Forwards  int       `json:"forwards"`            // forwards the daemon runs now
	// MCPAddr is where the MCP endpoint listens (127.0.0.1:PORT, path
	// MCPPath, the same token) when the setting mcp_server_enabled is on.
	MCPAddr string `json:"mcp_addr,omitempty"`
}

// Event is one message of the event stream (GET /v1/events, SSE).
type Event struct {
	Type    string   `json:"type"` // "forward" (a state change) or "shutdown"
	Forward *Forward `json:"forward,omitempty"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	// Fields lists the problems field by field when a config was refused
	// (400 from the config endpoints), so a form can show each next to
	// its field. Error says the same in one text.
	Fields []FieldError `json:"fields,omitempty"`
}

// FieldError is one problem with one field of a config, in the words of
// `kftray config add`.
type FieldError struct {
	Field   string `json:"field"` // kftray JSON name, e.g. "local_port"
	Problem string `json:"problem"`
}

// Describe says where a forward stands in one line, in the words every
// interface uses: "running on 127.0.0.1:8080 -> pod web-1".
func (fw *Forward) Describe() string {
	var b strings.Builder
	b.WriteString(fw.Status)
	if fw.Address != "" && fw.Status != StatusStopped {
		b.WriteString(" on " + fw.Address)
	}
	if fw.Pod != "" {
		b.WriteString(" -> pod " + fw.Pod)
	}
	if fw.Status == StatusRetrying && fw.Attempt > 0 {
		fmt.Fprintf(&b, " (attempt %d)", fw.Attempt)
	}
	if fw.LastError != "" && fw.Status != StatusRunning {
		b.WriteString(": " + fw.LastError)
	}
	return b.String()
}
