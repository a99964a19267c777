//go:build e2e && linux

package fault_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/fwdconfig"
)

func TestMain(m *testing.M) {
	// The SIGSTOP and partition tests run the forwarder in a child
	// process: this same test binary, started with this argument.
	if len(os.Args) > 1 && os.Args[1] == childArg {
		os.Exit(forwarderChild())
	}
	os.Exit(cluster.Main(m))
}

func deploy(t *testing.T, c *cluster.Cluster, ns string, replicas int32) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Deploy(ctx, ns, cluster.WebApp(replicas)); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, "web", int(replicas))
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

func webConfig(c *cluster.Cluster, ns string, id int64, port int) fwdconfig.Config {
	return fwdconfig.Config{ID: id, Alias: fmt.Sprintf("web-%d", id), Kubeconfig: c.Kubeconfig, Context: c.Context,
		Namespace: ns, WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: port}
}

// startForward runs a forward in this process and waits for it to run.
func startForward(t *testing.T, opts forwarder.Options, cfgs ...fwdconfig.Config) *forwarder.Manager {
	t.Helper()
	m := forwarder.NewManager(opts)
	t.Cleanup(m.StopAll)
	if err := m.Start(context.Background(), cfgs...); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range cfgs {
		waitState(t, m.Forward(cfg.ID), "running", 60*time.Second, func(s forwarder.State) bool { return s.Phase == forwarder.Running })
	}
	return m
}

func waitState(t *testing.T, f *forwarder.Forward, what string, bound time.Duration, cond func(forwarder.State) bool) forwarder.State {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		s := f.State()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s: state %+v", bound, what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// whoami asks the HTTP backend behind addr, on a new connection, which pod
// answers. dial may be nil (net.Dialer).
func whoami(ctx context.Context, dial func(ctx context.Context, addr string) (net.Conn, error), addr string) (string, error) {
	if dial == nil {
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	c, err := dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// eventually retries whoami until it succeeds (and, if want is set,
// answers as that pod) or bound passes.
func eventually(t *testing.T, dial func(ctx context.Context, addr string) (net.Conn, error), addr, want string, bound time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	var lastErr error
	var last string
	for time.Since(start) < bound {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		name, err := whoami(ctx, dial, addr)
		cancel()
		if err == nil && (want == "" || name == want) {
			return name, time.Since(start)
		}
		lastErr, last = err, name
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no successful request through %s within %v (want pod %q): last answer %q, error %v", addr, bound, want, last, lastErr)
	return "", 0
}

var transports = []tunnel.Transport{tunnel.WebSocket, tunnel.SPDY}
