package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// apiToken is the bearer token of the TCP API and the MCP endpoint: made
// and written to api.token (0600) on first need, new at every start,
// removed at exit.
type apiToken struct {
	path    string
	mu      sync.Mutex
	token   string
	written bool
}

func (t *apiToken) get() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" {
		return t.token, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	if err := writeFile0600(t.path, []byte(tok+"\n")); err != nil {
		return "", fmt.Errorf("writing the API token %s: %w", t.path, err)
	}
	t.token, t.written = tok, true
	return tok, nil
}

func (t *apiToken) remove() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.written {
		_ = os.Remove(t.path)
	}
}

// mcpEndpoint serves MCP (Streamable HTTP) on 127.0.0.1 while the setting
// mcp_server_enabled is on, on mcp_server_port (0: a free port), behind
// httpapi.Guard (the API token, a loopback Host, no foreign Origin). The
// handler is a client of this daemon's own socket, like any interface.
type mcpEndpoint struct {
	newHandler func(*localapi.Client) http.Handler // nil: no MCP in this build
	paths      localapi.Paths
	token      *apiToken
	log        zerolog.Logger

	mu     sync.Mutex
	hs     *http.Server
	done   chan struct{}
	addr   string // where it listens; "" when off
	port   int    // the setting it listens for
	client *localapi.Client
}

// Addr is where the endpoint listens, "" when it is off.
func (m *mcpEndpoint) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addr
}

// apply brings the endpoint in line with the settings: starts, stops or
// moves it.
func (m *mcpEndpoint) apply(ctx context.Context, settings map[string]string) error {
	on, _ := strconv.ParseBool(settings[fwdconfig.SettingMCPServerEnabled])
	port, _ := strconv.Atoi(settings[fwdconfig.SettingMCPServerPort])
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hs != nil && (!on || port != m.port) {
		m.stopLocked(ctx)
	}
	if !on || m.hs != nil {
		return nil
	}
	if m.newHandler == nil {
		return errors.New("this kftray was built without the MCP server")
	}
	tok, err := m.token.get()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("MCP endpoint: %w; choose another port with the setting %s (0 picks a free one)", err, fwdconfig.SettingMCPServerPort)
	}
	addr := ln.Addr().String()
	if err := writeFile0600(m.paths.MCPAddr, []byte(addr+"\n")); err != nil {
		ln.Close()
		return fmt.Errorf("writing %s: %w", m.paths.MCPAddr, err)
	}
	if m.client == nil {
		m.client = localapi.NewUnixClient(m.paths.Socket)
	}
	mux := http.NewServeMux()
	mux.Handle(localapi.MCPPath, m.newHandler(m.client))
	hs := &http.Server{Handler: httpapi.Guard(tok, mux), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error().Err(err).Str("addr", addr).Msg("MCP endpoint")
		}
	}()
	m.hs, m.done, m.addr, m.port = hs, done, addr, port
	m.log.Info().Str("addr", addr).Msg("MCP endpoint listening")
	return nil
}

// stop ends the endpoint (at daemon exit).
func (m *mcpEndpoint) stop(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hs != nil {
		m.stopLocked(ctx)
	}
	if m.client != nil {
		m.client.Close()
	}
}

func (m *mcpEndpoint) stopLocked(ctx context.Context) {
	_ = os.Remove(m.paths.MCPAddr)
	if err := m.hs.Shutdown(ctx); err != nil {
		_ = m.hs.Close()
	}
	<-m.done
	m.log.Info().Str("addr", m.addr).Msg("MCP endpoint stopped")
	m.hs, m.done, m.addr, m.port = nil, nil, "", 0
}
