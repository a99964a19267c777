package localapi

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Files the daemon keeps in the config directory. They are the contract
// between the daemon and its clients: a client finds the daemon by them.
const (
	SocketName = "kftray.sock" // the API, mode 0600
	LockName   = "daemon.lock" // flock held while a daemon runs
	PIDName    = "daemon.pid"
	TokenName  = "api.token" // bearer token for the TCP API, mode 0600
	AddrName   = "api.addr"  // host:port of the TCP API
	LogName    = "daemon.log"
	// MCPAddrName holds host:port of the daemon's MCP endpoint (setting
	// mcp_server_enabled); callers present the token in api.token.
	MCPAddrName = "mcp.addr"
)

// MCPPath is the path of the MCP endpoint (Streamable HTTP) on the
// address in mcp.addr.
const MCPPath = "/mcp"

// Paths are the daemon's files in one config directory.
type Paths struct {
	Dir, Socket, Lock, PID, Token, Addr, Log, MCPAddr string
}

// PathsIn returns the daemon's files in dir (the config directory, from
// internal/paths.ConfigDir).
func PathsIn(dir string) Paths {
	j := func(n string) string { return filepath.Join(dir, n) }
	return Paths{Dir: dir, Socket: j(SocketName), Lock: j(LockName), PID: j(PIDName),
		Token: j(TokenName), Addr: j(AddrName), Log: j(LogName), MCPAddr: j(MCPAddrName)}
}

// ReadPID returns the pid recorded by the last daemon, 0 if none.
func (p Paths) ReadPID() int {
	b, err := os.ReadFile(p.PID)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// ReadHTTP returns the TCP API's address and token, for browsers and
// other clients that cannot use the unix socket.
func (p Paths) ReadHTTP() (addr, token string, err error) {
	a, err := os.ReadFile(p.Addr)
	if err != nil {
		return "", "", fmt.Errorf("the daemon's HTTP address: %w (is the daemon running with its HTTP API on?)", err)
	}
	t, err := os.ReadFile(p.Token)
	if err != nil {
		return "", "", fmt.Errorf("the daemon's API token: %w", err)
	}
	return strings.TrimSpace(string(a)), strings.TrimSpace(string(t)), nil
}

// ReadMCP returns the URL of the daemon's MCP endpoint and the bearer
// token it wants.
func (p Paths) ReadMCP() (url, token string, err error) {
	a, err := os.ReadFile(p.MCPAddr)
	if err != nil {
		return "", "", fmt.Errorf("the daemon's MCP address: %w (is the daemon running with the setting mcp_server_enabled true?)", err)
	}
	t, err := os.ReadFile(p.Token)
	if err != nil {
		return "", "", fmt.Errorf("the daemon's API token: %w", err)
	}
	return "http://" + strings.TrimSpace(string(a)) + MCPPath, strings.TrimSpace(string(t)), nil
}

// maxLogSize is where the log file is rotated (to daemon.log.1) at start.
const maxLogSize = 10 << 20

// OpenLog opens the daemon's JSON log file for appending (mode 0600),
// first moving a file grown past 10 MiB to daemon.log.1. The daemon logs
// to it; Ensure sends a starting daemon's stdout and stderr to it.
func OpenLog(p Paths) (*os.File, error) {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(p.Log); err == nil && fi.Size() > maxLogSize {
		_ = os.Rename(p.Log, p.Log+".1")
	}
	f, err := os.OpenFile(p.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the daemon log: %w", err)
	}
	return f, nil
}
