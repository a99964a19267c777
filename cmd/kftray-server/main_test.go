package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary runs the real kftray-server process configured the way kftray
// configures its relay (env vars only), checks it relays and reports health,
// and that SIGTERM stops it cleanly.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "kftray-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from upstream"))
			c.Close()
		}
	}()
	relayPort, healthPort := freePort(t), freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PROXY_TYPE=tcp",
		"REMOTE_ADDRESS=127.0.0.1",
		"REMOTE_PORT=" + port(up.Addr()),
		"LOCAL_PORT=" + relayPort,
		"KFTRAY_SERVER_HEALTH_ADDR=127.0.0.1:" + healthPort,
	}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	// The "relaying" log line says the listener is up.
	for line := range logs {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if entry["message"] == "kftray-server relaying" {
			break
		}
	}

	c, err := net.DialTimeout("tcp", "127.0.0.1:"+relayPort, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	n, _ := c.Read(buf)
	c.Close()
	if got := string(buf[:n]); got != "hello from upstream" {
		t.Fatalf("through the relay: got %q", got)
	}

	resp, err := http.Get("http://127.0.0.1:" + healthPort + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz: %s", resp.Status)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	var rest []string
	for line := range logs {
		rest = append(rest, line)
	}
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Fatalf("after SIGTERM: %v\n%s", err, strings.Join(rest, "\n"))
	}
	if !strings.Contains(strings.Join(rest, "\n"), "kftray-server stopped") {
		t.Fatalf("no shutdown log:\n%s", strings.Join(rest, "\n"))
	}
}

func TestBadConfigExitCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "kftray-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PROXY_TYPE=udp", "REMOTE_PORT=53"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "REMOTE_ADDRESS") {
		t.Fatalf("got %v, %q; want exit 2 naming REMOTE_ADDRESS", err, out)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return port(ln.Addr())
}

func port(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// The relay image is FROM scratch and should stay small and auditable: no
// client-go, gRPC or SQLite may creep in.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{
		"github.com/kftray-go/kftray/cmd/kftray-server",
		"github.com/kftray-go/kftray/relayserver",
		"github.com/kftray-go/kftray/relaywire",
		"github.com/kftray-go/kftray/internal/envknob",
		"github.com/kftray-go/kftray/internal/buildinfo",
		"github.com/rs/zerolog",
		"github.com/mattn/go-isatty",    // zerolog
		"github.com/mattn/go-colorable", // zerolog
		"golang.org/x/sys/unix",         // go-isatty
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			ok = ok || dep == a || strings.HasPrefix(dep, a+"/")
		}
		if !ok {
			t.Errorf("kftray-server links %s; keep the relay binary to the standard library, zerolog and our relay packages", dep)
		}
	}
}
