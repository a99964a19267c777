//go:build e2e

package devcluster_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
)

const kubectl = "/usr/bin/kubectl"

// TestKubectlPortForward: kubectl port-forward (the benchmarks' baseline)
// works against the dev cluster for svc/ and pod/, over WebSocket and SPDY.
func TestKubectlPortForward(t *testing.T) {
	c := cluster.Get(t)
	if _, err := os.Stat(kubectl); err != nil {
		t.Skipf("kubectl not installed: %v", err)
	}
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Deploy(ctx, ns, cluster.App{Name: "web", Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, "web", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range []string{"true", "false"} {
		for _, target := range []string{"svc/web", "pod/" + pods[1]} {
			t.Run("websockets="+ws+"/"+target, func(t *testing.T) {
				remote := "80"
				if strings.HasPrefix(target, "pod/") {
					remote = "8080"
				}
				addr := kubectlPortForward(t, ctx, c, ws, ns, target, remote)
				resp, err := http.Get("http://" + addr + "/")
				if err != nil {
					t.Fatalf("GET through kubectl: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got := strings.TrimSpace(string(b))
				want := pods
				if strings.HasPrefix(target, "pod/") {
					want = []string{pods[1]}
				}
				if !slices.Contains(want, got) {
					t.Errorf("%s answered %q, want one of %v", target, got, want)
				}
			})
		}
	}
}

var forwarding = regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) ->`)

// kubectlPortForward runs kubectl port-forward on a free local port until
// the test ends and returns the local address.
func kubectlPortForward(t *testing.T, ctx context.Context, c *cluster.Cluster, websockets, ns, target, remote string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", c.Kubeconfig, "--context", c.Context,
		"-n", ns, "port-forward", target, ":"+remote)
	cmd.Env = []string{"HOME=" + t.TempDir(), "KUBECTL_PORT_FORWARD_WEBSOCKETS=" + websockets}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if m := forwarding.FindStringSubmatch(lines.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return m[1]
		}
	}
	_ = cmd.Wait()
	t.Fatalf("kubectl port-forward %s printed no address; stderr:\n%s", target, stderr.String())
	return ""
}

// TestServerVersion: the binary carries version ldflags; without them
// clients fail to parse "v0.0.0-master+$Format:%H$".
func TestServerVersion(t *testing.T) {
	c := cluster.Get(t)
	v, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2" || v.Major != "1" || v.Minor != "37" {
		t.Errorf("server version %+v, want v1.37.2", v)
	}
}
