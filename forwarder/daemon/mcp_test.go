package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// statusHandler stands in for the MCP server: it answers with the
// daemon's status, read through the client the daemon gave it.
func statusHandler(c *localapi.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := c.Status(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(st)
	})
}

// mcpPost posts to the endpoint at addr with token ("" for none).
func mcpPost(t *testing.T, addr, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+localapi.MCPPath, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMCPEndpointFollowsItsSettings: off by default (no mcp.addr); on
// through the settings API it listens on loopback behind the token, with
// its address in mcp.addr and the daemon's status; a new port moves it;
// off again it closes and mcp.addr goes. With the TCP API off the token
// is made when the endpoint needs it.
func TestMCPEndpointFollowsItsSettings(t *testing.T) {
	dir := shortDir(t)
	c, st := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine(), MCPHandler: statusHandler})
	ctx := context.Background()
	p := localapi.PathsIn(dir)
	if st.MCPAddr != "" {
		t.Fatalf("MCP on by default: %+v", st)
	}
	if _, err := os.Stat(p.MCPAddr); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("mcp.addr with the endpoint off: %v", err)
	}
	if _, err := os.Stat(p.Token); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("api.token with neither the TCP API nor MCP on: %v", err)
	}

	if err := c.SetSetting(ctx, fwdconfig.SettingMCPServerEnabled, "true"); err != nil {
		t.Fatal(err)
	}
	url, token, err := p.ReadMCP()
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), localapi.MCPPath)
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Fatalf("MCP listens on %s; want 127.0.0.1", addr)
	}
	if st, _ := c.Status(ctx); st.MCPAddr != addr {
		t.Fatalf("status says MCP is at %q; mcp.addr says %s", st.MCPAddr, addr)
	}
	if fi, err := os.Stat(p.Token); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("api.token: %v %v; want mode 0600", fi, err)
	}
	if code, _ := mcpPost(t, addr, ""); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d; want 401", code)
	}
	code, body := mcpPost(t, addr, token)
	var seen localapi.Status
	if code != http.StatusOK || json.Unmarshal([]byte(body), &seen) != nil || seen.MCPAddr != addr {
		t.Fatalf("with the token: %d %s; want the handler's answer (the daemon's status, through its own client)", code, body)
	}

	port := freePort(t)
	if err := c.SetSetting(ctx, fwdconfig.SettingMCPServerPort, strconv.Itoa(port)); err != nil {
		t.Fatal(err)
	}
	moved := "127.0.0.1:" + strconv.Itoa(port)
	if st, _ := c.Status(ctx); st.MCPAddr != moved {
		t.Fatalf("after setting the port: MCP at %q, want %s", st.MCPAddr, moved)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatalf("the old address %s still accepts", addr)
	}
	if code, _ := mcpPost(t, moved, token); code != http.StatusOK {
		t.Fatalf("on the new port: %d", code)
	}

	// A port someone else holds: the setting is kept, the error says why
	// and what to do, and nothing listens.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = c.SetSetting(ctx, fwdconfig.SettingMCPServerPort, strconv.Itoa(busy.Addr().(*net.TCPAddr).Port))
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), fwdconfig.SettingMCPServerPort) {
		t.Fatalf("a busy port: %v; want the listen error and the setting to change", err)
	}
	if st, _ := c.Status(ctx); st.MCPAddr != "" {
		t.Fatalf("MCP at %q after a failed move", st.MCPAddr)
	}
	if err := c.SetSetting(ctx, fwdconfig.SettingMCPServerPort, "0"); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Status(ctx); st.MCPAddr == "" {
		t.Fatal("no MCP endpoint after choosing port 0 again")
	}

	if err := c.SetSetting(ctx, fwdconfig.SettingMCPServerEnabled, "false"); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Status(ctx); st.MCPAddr != "" {
		t.Fatalf("MCP still at %q after turning it off", st.MCPAddr)
	}
	if _, err := os.Stat(p.MCPAddr); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("mcp.addr after turning MCP off: %v", err)
	}
}

// TestMCPEndpointAtStart: a daemon started with the setting on serves MCP
// at once with the TCP API's token, and removes mcp.addr and api.token at
// exit.
func TestMCPEndpointAtStart(t *testing.T) {
	dir := shortDir(t)
	st := openStore(t, dir)
	if err := st.SetSetting(context.Background(), fwdconfig.SettingMCPServerEnabled, "true"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	p := localapi.PathsIn(dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan localapi.Status, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, Log: zerolog.Nop(), Engine: testWorld(t).engine(), HTTPAddr: "127.0.0.1:0", MCPHandler: statusHandler,
			Ready: func(s localapi.Status) { ready <- s }})
	}()
	var s localapi.Status
	select {
	case s = <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	}
	if s.MCPAddr == "" || s.HTTPAddr == "" {
		t.Fatalf("status at start: %+v; want both the TCP API and MCP", s)
	}
	_, apiToken, err := p.ReadHTTP()
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := mcpPost(t, s.MCPAddr, apiToken); code != http.StatusOK {
		t.Fatalf("MCP with api.token: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p.MCPAddr, p.Token, p.Addr} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after exit: %v", f, err)
		}
	}
}
