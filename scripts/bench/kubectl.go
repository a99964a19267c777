package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// kubectlPF is one `kubectl port-forward` process.
type kubectlPF struct {
	cmd    *exec.Cmd
	addrs  map[string]string // remote port → local 127.0.0.1:N
	exited chan struct{}     // closed when the process has exited
	exitAt time.Time
	mu     sync.Mutex
	stderr strings.Builder
}

var forwardingLine = regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) -> (\d+)`)

// startKubectl runs kubectl port-forward target :p... with
// KUBECTL_PORT_FORWARD_WEBSOCKETS=ws and waits for every port to listen.
// The remote ports in the returned map are the pod's (kubectl prints the
// resolved container port).
func startKubectl(ctx context.Context, kubectl, kubeconfig, kctx, ns string, websockets bool, target string, ports ...string) (*kubectlPF, error) {
	args := []string{"--kubeconfig", kubeconfig, "--context", kctx, "-n", ns, "port-forward", target}
	for _, p := range ports {
		args = append(args, ":"+p)
	}
	cmd := exec.Command(kubectl, args...)
	home, err := os.MkdirTemp("", "bench-kubectl-home-")
	if err != nil {
		return nil, err
	}
	cmd.Env = []string{"HOME=" + home, fmt.Sprintf("KUBECTL_PORT_FORWARD_WEBSOCKETS=%t", websockets), "PATH=/usr/bin:/bin"}
	dieWithParent(cmd)
	k := &kubectlPF{cmd: cmd, addrs: map[string]string{}, exited: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kubectl: %w", err)
	}
	go func() {
		b := bufio.NewScanner(errPipe)
		for b.Scan() {
			k.mu.Lock()
			k.stderr.WriteString(b.Text() + "\n")
			k.mu.Unlock()
		}
	}()
	found := make(chan struct{})
	go func() {
		// kubectl prints a line per forwarded port once it listens.
		sc := bufio.NewScanner(out)
		seen := map[string]string{}
		for sc.Scan() {
			if m := forwardingLine.FindStringSubmatch(sc.Text()); m != nil && seen[m[2]] == "" {
				seen[m[2]] = m[1]
				if len(seen) == len(ports) {
					k.mu.Lock()
					k.addrs = seen
					k.mu.Unlock()
					close(found)
				}
			}
		}
		_ = cmd.Wait()
		k.mu.Lock()
		k.exitAt = time.Now()
		k.mu.Unlock()
		close(k.exited)
		os.RemoveAll(home)
	}()
	select {
	case <-found:
	case <-k.exited:
		return nil, fmt.Errorf("kubectl port-forward %s exited: %s", target, k.errText())
	case <-time.After(30 * time.Second):
		k.stop()
		return nil, fmt.Errorf("kubectl port-forward %s: no address after 30s: %s", target, k.errText())
	case <-ctx.Done():
		k.stop()
		return nil, ctx.Err()
	}
	return k, nil
}

func (k *kubectlPF) errText() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.TrimSpace(k.stderr.String())
}

func (k *kubectlPF) pid() int { return k.cmd.Process.Pid }

func (k *kubectlPF) stop() {
	select {
	case <-k.exited:
		return
	default:
	}
	_ = k.cmd.Process.Kill()
	<-k.exited
}

// lastErrLine is kubectl's last stderr line that is not a version-skew warning.
func (k *kubectlPF) lastErrLine() string {
	var last string
	for _, l := range strings.Split(k.errText(), "\n") {
		if l != "" && !strings.Contains(strings.ToLower(l), "version") {
			last = l
		}
	}
	return last
}
