//go:build e2e

// Package kftraytest is what the e2e tests that drive the kftray command
// and its daemon share: the test binary run as kftray on a config
// directory of its own, bounded polls of the daemon, and requests through
// a forward.
package kftraytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/internal/cli"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/localapi"
)

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// Build builds cmd/kftray, once per test binary, for the tests that run the
// binary users run; it returns its path.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { built, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("building kftray: %v", buildErr)
	}
	return built
}

func build() (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	dir, err := os.MkdirTemp("", "kftraybin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kftray")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kftray")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	return bin, nil
}

// ConfigDir is a fresh config directory (short: unix socket paths are
// limited) whose daemon is stopped, and which is removed, when the test
// ends.
func ConfigDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := fwdaemon.StopRunning(ctx, dir, 20*time.Second); err != nil {
			t.Error(err)
		}
		os.RemoveAll(dir)
	})
	return dir
}

// Main is TestMain for a package that uses New: run under the name kftray,
// this test binary is the kftray command (so the daemon it starts on
// demand is this code too); otherwise it runs the tests on the dev
// cluster.
func Main(m *testing.M) int {
	if filepath.Base(os.Args[0]) == "kftray" {
		return cli.Main(os.Args[1:], cmdutil.System())
	}
	return cluster.Main(m)
}

// CLI is this test binary copied under the name kftray (see Main), with a
// config directory of its own.
type CLI struct {
	t   testing.TB
	Bin string
	Env []string
}

// New copies the test binary to kftray and returns it with its config
// directory (see ConfigDir; pattern names it).
func New(t testing.TB, pattern string) (*CLI, string) {
	t.Helper()
	dir := ConfigDir(t, pattern)
	bin := filepath.Join(t.TempDir(), "kftray")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return &CLI{t: t, Bin: bin, Env: append(os.Environ(), "KFTRAY_CONFIG="+dir)}, dir
}

// Command is kftray args with k's environment, not started.
func (k *CLI) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(k.Bin, args...)
	cmd.Env = k.Env
	return cmd
}

// Run runs kftray and fails the test unless it exits 0; it returns the
// standard output.
func (k *CLI) Run(args ...string) string {
	k.t.Helper()
	cmd := k.Command(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		k.t.Fatalf("kftray %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(cmd.Args[1:], " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// Status is `kftray status --json`.
func (k *CLI) Status() []localapi.Forward {
	k.t.Helper()
	var fs []localapi.Forward
	if err := json.Unmarshal([]byte(k.Run("status", "--json")), &fs); err != nil {
		k.t.Fatal(err)
	}
	return fs
}

// Poll calls f until it holds, failing the test with what it waited for
// and f's last detail after a minute: a hang guard, not a timing
// assertion.
func Poll(t testing.TB, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, detail := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %s", what, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitForward polls the daemon for the forward ref until cond holds, and
// returns it.
func WaitForward(t testing.TB, c *localapi.Client, ref, what string, cond func(localapi.Forward) bool) localapi.Forward {
	t.Helper()
	var f localapi.Forward
	Poll(t, what, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		f, err = c.Forward(ctx, ref)
		if err != nil {
			return false, err.Error()
		}
		return cond(f), fmt.Sprintf("%+v", f)
	})
	return f
}

// Get is the trimmed body of GET / through addr, on a new connection.
func Get(t testing.TB, addr string) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET through the forward %s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// SyncBuffer is a bytes.Buffer a child process writes while the test
// reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
