//go:build e2e

package devcluster_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
)

// onePod deploys app "web" with one replica and returns its pod.
func onePod(t *testing.T, c *cluster.Cluster, ns string, app cluster.App) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if app.Name == "" {
		app.Name = "web"
	}
	if err := c.Deploy(ctx, ns, app); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, app.Name, 1)
	if err != nil {
		t.Fatal(err)
	}
	return pods[0]
}

func TestCutStreams(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	pod := onePod(t, c, ns, cluster.App{})
	conn, err := dialers[0].dial(c, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := openStream(t, conn, 8080)
	if got := s.get(t, "/"); got != pod {
		t.Fatalf("answered %q, want %q", got, pod)
	}
	ctx := context.Background()
	n, err := c.CutStreams(ctx, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("cut %d streams, want 1", n)
	}
	if _, err := s.r.ReadByte(); err == nil {
		t.Error("cut stream still delivers data")
	}
	if msg := <-s.errc; !strings.Contains(msg, "cut") {
		t.Errorf("error stream says %q; want the cut reported", msg)
	}
	// The pod and the upgraded connection are fine: a new stream works.
	if got := openStream(t, conn, 8080).get(t, "/"); got != pod {
		t.Errorf("after cut, answered %q, want %q", got, pod)
	}
}

func TestStallStreams(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	pod := onePod(t, c, ns, cluster.App{})
	conn, err := dialers[0].dial(c, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := openStream(t, conn, 8080)
	const stall = 700 * time.Millisecond
	start := time.Now()
	if err := c.StallStreams(context.Background(), ns, pod, stall); err != nil {
		t.Fatal(err)
	}
	if got := s.get(t, "/"); got != pod {
		t.Fatalf("answered %q, want %q", got, pod)
	}
	// A lower bound only, which the stall guarantees however loaded the
	// machine: the kubelet holds the bytes until start+stall at the earliest.
	if el := time.Since(start); el < stall-10*time.Millisecond {
		t.Errorf("request finished %v after a %v stall began", el, stall)
	}
}

func TestDropConnections(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	pod := onePod(t, c, ns, cluster.App{})
	for _, d := range dialers {
		t.Run(d.name, func(t *testing.T) {
			conn, err := d.dial(c, ns, pod)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			openStream(t, conn, 8080).get(t, "/")
			start := time.Now()
			n, err := c.DropConnections(context.Background(), ns, pod)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("dropped %d connections, want 1", n)
			}
			select {
			case <-conn.CloseChan():
				t.Logf("client saw the drop after %v", time.Since(start))
			case <-time.After(30 * time.Second):
				t.Fatal("client connection still open 30s after the kubelet side was dropped")
			}
		})
	}
}

// TestAPIServerRestart: streams through a stopped API server end; after it
// is back, port-forward works again.
func TestAPIServerRestart(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	pod := onePod(t, c, ns, cluster.App{})
	conn, err := dialers[0].dial(c, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	openStream(t, conn, 8080).get(t, "/")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server stopped in %v", time.Since(start))
	select {
	case <-conn.CloseChan():
	case <-ctx.Done():
		t.Fatal("port-forward connection survived its API server")
	}
	if _, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{}); err == nil {
		t.Fatal("API server still answers after StopAPIServer")
	}
	start = time.Now()
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server ready again in %v", time.Since(start))
	conn2, err := dialers[1].dial(c, ns, pod)
	if err != nil {
		t.Fatalf("dial after restart: %v", err)
	}
	defer conn2.Close()
	if got := openStream(t, conn2, 8080).get(t, "/"); got != pod {
		t.Errorf("after restart answered %q, want %q", got, pod)
	}
}

// serveText serves body over HTTP on loopback until the test ends and
// returns the address: a backend the test runs itself.
func serveText(t *testing.T, body string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestBackendAddrAnnotation: a pod's port-forwards can go to a process the
// test runs (the relay tests run kftray-server so).
func TestBackendAddrAnnotation(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	addr := serveText(t, "served by the test\n")
	pod := onePod(t, c, ns, cluster.App{PodAnnotations: map[string]string{cluster.AnnotationBackendAddr: addr}})
	conn, err := dialers[0].dial(c, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := openStream(t, conn, 8080).get(t, "/"); got != "served by the test" {
		t.Errorf("answered %q, want the test's own server", got)
	}
}

// TestRouteImage: pods of an image the code under test deploys (kftray's
// relay) can be served by a process the test runs.
func TestRouteImage(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	addr := serveText(t, "relay stand-in\n")
	ctx := context.Background()
	const image = "devcluster.invalid/test-relay"
	if err := c.RouteImage(ctx, image, addr); err != nil {
		t.Fatal(err)
	}
	defer c.RouteImage(ctx, image, "")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "relay", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "relay", Image: image + ":v1"}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := waitPodReady(wctx, c, ns, "relay"); err != nil {
		t.Fatal(err)
	}
	conn, err := dialers[0].dial(c, ns, "relay")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Port 5000 is declared nowhere: the route covers every port.
	if got := openStream(t, conn, 5000).get(t, "/"); got != "relay stand-in" {
		t.Errorf("answered %q, want the test's server", got)
	}
}

func waitPodReady(ctx context.Context, c *cluster.Cluster, ns, name string) error {
	for {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s/%s not ready: %w (last error %v)", ns, name, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestEchoBackends: TCP echo through port-forward, UDP echo directly, and a
// port no container declares is refused.
func TestEchoBackends(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	pod := onePod(t, c, ns, cluster.App{
		Name: "echo",
		Ports: []corev1.ContainerPort{
			{Name: "tcp-echo", ContainerPort: 9000, Protocol: corev1.ProtocolTCP},
			{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP},
		},
		ServicePorts: []corev1.ServicePort{{Name: "tcp-echo", Port: 9000, Protocol: corev1.ProtocolTCP}},
	})
	conn, err := dialers[0].dial(c, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := openStream(t, conn, 9000)
	msg := "hello through the API server\n"
	if _, err := io.WriteString(s.data, msg); err != nil {
		t.Fatal(err)
	}
	line, err := s.r.ReadString('\n')
	if err != nil || line != msg {
		t.Errorf("tcp echo: %q, %v", line, err)
	}

	refused := openStream(t, conn, 1234)
	fmt.Fprintf(refused.data, "x")
	if _, err := refused.r.ReadByte(); err == nil {
		t.Error("undeclared port 1234 answered")
	}
	if m := <-refused.errc; !strings.Contains(m, "connection refused") {
		t.Errorf("undeclared port: error stream says %q", m)
	}

	pb, err := c.Pod(context.Background(), ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	var udpAddr string
	for _, b := range pb.Backends {
		if b.Protocol == "UDP" && b.Port == 5353 {
			udpAddr = b.Address
		}
	}
	if udpAddr == "" {
		t.Fatalf("no UDP backend in %+v", pb)
	}
	uc, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := uc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, err := uc.Read(buf)
	if err != nil || string(buf[:n]) != pod+": ping" {
		t.Errorf("udp echo: %q, %v; want %q", buf[:n], err, pod+": ping")
	}
}

// TestKWOKRestart: after the node agent restarts, the node is Ready with its
// addresses (the harness restores them if KWOK lost them) and port-forward
// to a running pod works.
func TestKWOKRestart(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	pod := onePod(t, c, ns, cluster.App{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 2 {
		if err := c.StopKWOK(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.StartKWOK(ctx); err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
	}
	node, err := c.Client.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(node.Status.Addresses) == 0 {
		t.Fatal("node has no addresses after KWOK restarts")
	}
	conn, err := dialers[0].dial(c, ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := openStream(t, conn, 8080).get(t, "/"); got != pod {
		t.Errorf("after KWOK restarts answered %q, want %q", got, pod)
	}
	// New pods become ready under the restarted KWOK. The bound is well
	// under the 40 s a new KWOK would wait for its predecessor's node lease.
	if err := c.Deploy(ctx, ns, cluster.App{Name: "after"}); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	if _, err := c.ReadyPods(rctx, ns, "after", 1); err != nil {
		t.Fatalf("pod created after KWOK restarts: %v", err)
	}
}
