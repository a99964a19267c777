//go:build e2e

// Package e2e_test runs the forwarding engine against the dev cluster: the
// real API server, controllers, EndpointSlices and the kubelet's own
// port-forward code (e2e/cluster). Run with
//
//	go test -tags e2e ./e2e/forwarder/
package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/fwdconfig"
)

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

var transports = []tunnel.Transport{tunnel.WebSocket, tunnel.SPDY}

// phases records the phase sequence the observer saw.
type phases struct {
	mu  sync.Mutex
	seq []forwarder.Phase
}

func (p *phases) ForwardState(s forwarder.State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seq) == 0 || p.seq[len(p.seq)-1] != s.Phase {
		p.seq = append(p.seq, s.Phase)
	}
}

func (p *phases) get() []forwarder.Phase {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]forwarder.Phase(nil), p.seq...)
}

// forward starts one service forward to ns/web port 80 through the
// cluster's kubeconfig file (loaded as kubectl would).
func forward(t *testing.T, c *cluster.Cluster, ns string, tr tunnel.Transport, obs forwarder.Observer) *forwarder.Forward {
	t.Helper()
	m := forwarder.NewManager(forwarder.Options{Transport: tr, Observer: obs})
	t.Cleanup(m.StopAll)
	cfg := fwdconfig.Config{ID: 1, Alias: "web", Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: ns,
		WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80}
	if err := m.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	f := m.Forward(1)
	waitState(t, f, "running", func(s forwarder.State) bool { return s.Phase == forwarder.Running })
	return f
}

func waitState(t *testing.T, f *forwarder.Forward, what string, cond func(forwarder.State) bool) forwarder.State {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := f.State()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: state %+v", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noKeepAlive makes every request a new local connection.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// whoami asks the forwarded service which pod answers.
func whoami(addr string) (string, error) {
	resp, err := noKeepAlive.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

func deploy(t *testing.T, c *cluster.Cluster, ns string, replicas int32) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Deploy(ctx, ns, cluster.App{Name: "web", Replicas: replicas}); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, "web", int(replicas))
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

func TestServiceForwardManyConnections(t *testing.T) {
	c := cluster.Get(t)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			ns := c.Namespace(t)
			pods := deploy(t, c, ns, 2)
			f := forward(t, c, ns, tr, nil)
			st := f.State()
			// Service port 80 → named targetPort "http" → container port 8080.
			if st.PodPort != 8080 || (st.Pod != pods[0] && st.Pod != pods[1]) || st.Transport != string(tr) {
				t.Fatalf("state %+v; pods %v", st, pods)
			}
			addr := st.Address
			for i := 0; i < 100; i++ {
				name, err := whoami(addr)
				if err != nil || name != st.Pod {
					t.Fatalf("request %d: %q %v (want sticky pod %s)", i, name, err, st.Pod)
				}
			}
			const n, size = 50, 2 << 20
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body := make([]byte, size)
					rand.Read(body)
					resp, err := noKeepAlive.Post("http://"+addr+"/echo", "application/octet-stream", bytes.NewReader(body))
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					got, err := io.ReadAll(resp.Body)
					if err != nil {
						errs <- err
						return
					}
					if sha256.Sum256(got) != sha256.Sum256(body) {
						errs <- fmt.Errorf("checksum mismatch: %d bytes back", len(got))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestPodDeletedMidTest(t *testing.T) {
	c := cluster.Get(t)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			ns := c.Namespace(t)
			deploy(t, c, ns, 1)
			f := forward(t, c, ns, tr, nil)
			addr := f.State().Address
			old, err := whoami(addr)
			if err != nil {
				t.Fatal(err)
			}
			// An open connection to the pod.
			open, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer open.Close()
			fmt.Fprintf(open, "GET / HTTP/1.1\r\nHost: web\r\n\r\n")
			buf := make([]byte, 4096)
			if _, err := open.Read(buf); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := c.Client.CoreV1().Pods(ns).Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			open.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.Copy(io.Discard, open); err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("connection to the deleted pod: %v, want it closed", err)
			}
			repl, err := c.ReadyPods(ctx, ns, "web", 1, old)
			if err != nil {
				t.Fatal(err)
			}
			ready := time.Now()
			var first time.Duration
			for {
				name, err := whoami(addr)
				if err == nil && name == repl[0] {
					first = time.Since(ready)
					break
				}
				if time.Since(ready) > 30*time.Second {
					t.Fatalf("no connection to the replacement %s 30s after it was ready: %q %v", repl[0], name, err)
				}
			}
			t.Logf("%s: first successful new connection to the replacement %v after the test saw it ready", tr, first)
			st := waitState(t, f, "pod change in state", func(s forwarder.State) bool { return s.Pod == repl[0] && s.Phase == forwarder.Running })
			if st.Reconnects < 1 {
				t.Errorf("reconnects %d after a pod change", st.Reconnects)
			}
		})
	}
}

func TestStreamCutKeepsForward(t *testing.T) {
	c := cluster.Get(t)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			ns := c.Namespace(t)
			deploy(t, c, ns, 1)
			f := forward(t, c, ns, tr, nil)
			st := f.State()
			conn, err := net.Dial("tcp", st.Address)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: web\r\n\r\n")
			if _, err := conn.Read(make([]byte, 4096)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if n, err := c.CutStreams(ctx, ns, st.Pod); err != nil || n != 1 {
				t.Fatalf("cut %d streams, %v; want 1", n, err)
			}
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.Copy(io.Discard, conn); err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("local connection whose stream was cut: %v, want it closed", err)
			}
			// kubectl port-forward exits here; the forward carries on, on
			// the same upgraded connection.
			if name, err := whoami(st.Address); err != nil || name != st.Pod {
				t.Fatalf("after a stream cut: %q %v", name, err)
			}
			if after := f.State(); after.Phase != forwarder.Running || after.Reconnects != 0 {
				t.Fatalf("forward disturbed by a stream cut: %+v", after)
			}
		})
	}
}

func TestRollingUpdate(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	const replicas = 4
	deploy(t, c, ns, replicas)
	f := forward(t, c, ns, tunnel.Auto, nil)
	addr := f.State().Address

	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := whoami(addr); err != nil {
					if failed.Add(1) < 5 {
						t.Logf("%s %v", time.Now().Format("15:04:05.000"), err)
					}
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	old, _ := c.ReadyPods(ctx, ns, "web", replicas)
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := c.Client.AppsV1().Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadyPods(ctx, ns, "web", replicas, old...); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	during := ok.Load() + failed.Load()
	t.Logf("rolling update with 4 clients: %d/%d requests succeeded (%.1f%%)", ok.Load(), during, 100*float64(ok.Load())/float64(max(during, 1)))
	// Connections the kubelet refuses (pod terminating or gone) are
	// replayed on a ready pod and succeed; what can still fail is a request
	// already inside a pod when it is killed (these pods have no grace
	// period), rare: at most 1 %.
	if failed.Load()*100 > during {
		t.Errorf("%d of %d requests failed during the rolling update", failed.Load(), during)
	}
	// After the rollout every new connection succeeds.
	for i := 0; i < 50; i++ {
		if _, err := whoami(addr); err != nil {
			t.Fatalf("after the rollout, request %d: %v", i, err)
		}
	}
}

// Test100Forwards starts 100 forwards at once (one service, one namespace),
// checks that all run and serve, and reports this process's memory per
// forward: the cluster runs in other processes, so it is the engine's own.
func Test100Forwards(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	deploy(t, c, ns, 2)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()

	m := forwarder.NewManager(forwarder.Options{})
	defer m.StopAll()
	cfgs := make([]fwdconfig.Config, 100)
	for i := range cfgs {
		cfgs[i] = fwdconfig.Config{ID: int64(i + 1), Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: ns,
			WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80}
	}
	start := time.Now()
	if err := m.Start(context.Background(), cfgs...); err != nil {
		t.Fatal(err)
	}
	for _, id := range m.IDs() {
		waitState(t, m.Forward(id), "running", func(s forwarder.State) bool { return s.Phase == forwarder.Running })
	}
	allRunning := time.Since(start)
	for _, st := range m.States() {
		if _, err := whoami(st.Address); err != nil {
			t.Fatalf("forward %d: %v", st.ID, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	{
		hf, _ := os.Create("/tmp/heap100.prof")
		pprof.WriteHeapProfile(hf)
		hf.Close()
	}
	if n := len(m.IDs()); n != 100 {
		t.Fatalf("%d forwards running, want 100", n)
	}
	t.Logf("100 forwards running %v after Start; per forward: %.1f KiB heap, %.1f goroutines (process heap %.1f MiB)",
		allRunning, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/100/1024,
		float64(runtime.NumGoroutine()-g0)/100, float64(after.HeapAlloc)/(1<<20))
}

// TestPodWorkload forwards to pods chosen by label selector and follows
// the replacement when the pod is deleted.
func TestPodWorkload(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	pods := deploy(t, c, ns, 1)
	m := forwarder.NewManager(forwarder.Options{})
	defer m.StopAll()
	cfg := fwdconfig.Config{ID: 1, Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: ns,
		WorkloadType: "pod", Protocol: "tcp", Target: "app=web", RemotePort: 8080}
	if err := m.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	f := m.Forward(1)
	st := waitState(t, f, "running", func(s forwarder.State) bool { return s.Phase == forwarder.Running })
	if name, err := whoami(st.Address); err != nil || name != pods[0] {
		t.Fatalf("served by %q, %v; want %s", name, err, pods[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, pods[0], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	repl, err := c.ReadyPods(ctx, ns, "web", 1, pods[0])
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, f, "the replacement", func(s forwarder.State) bool { return s.Pod == repl[0] && s.Phase == forwarder.Running })
	if name, err := whoami(st.Address); err != nil || name != repl[0] {
		t.Fatalf("after the pod was deleted: served by %q, %v; want %s", name, err, repl[0])
	}
}

// TestUpgradedConnectionDropped: the API server's upgraded connection to the
// pod breaks (a proxy or load balancer in between resets it). The forward
// redials at once and new connections work; kubectl port-forward exits.
func TestUpgradedConnectionDropped(t *testing.T) {
	c := cluster.Get(t)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			ns := c.Namespace(t)
			deploy(t, c, ns, 1)
			f := forward(t, c, ns, tr, nil)
			st := f.State()
			if _, err := whoami(st.Address); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if n, err := c.DropConnections(ctx, ns, st.Pod); err != nil || n < 1 {
				t.Fatalf("dropped %d connections, %v", n, err)
			}
			// At once: the forward may not know yet (over WebSocket the API
			// server closes our side only when it next writes to the dead
			// one); the connection still gets through.
			start := time.Now()
			if name, err := whoami(st.Address); err != nil || name != st.Pod {
				t.Fatalf("request right after the drop: %q, %v", name, err)
			}
			t.Logf("%s: first request after the drop took %v", tr, time.Since(start))
			waitState(t, f, "redialed", func(s forwarder.State) bool { return s.Reconnects >= 1 && s.Phase == forwarder.Running })
			for i := 0; i < 20; i++ {
				if name, err := whoami(st.Address); err != nil || name != st.Pod {
					t.Fatalf("request %d after the drop: %q, %v", i, name, err)
				}
			}
		})
	}
}
