//go:build e2e

// Package relay_test runs kftray's relay forwards on the dev cluster: the
// relay Deployment, its ReplicaSet and pods, scheduling, readiness and
// port-forward through the API server are real. KWOK runs no containers, so
// each relay pod's port-forwards are sent (AnnotationBackendAddr) to a real
// kftray-server process this test runs, configured with the same env vars
// the Deployment gives the container.
package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/forwarder/udprelay"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kftray-server-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "kftray-server")
	if out, err := exec.Command("go", "build", "-o", serverBin, "../../cmd/kftray-server").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build kftray-server: %v\n%s", err, out)
		os.Exit(1)
	}
	code := cluster.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

const wait = 60 * time.Second

// startServer runs a kftray-server process as a relay pod's container
// would run, and returns the address port-forwards to the pod should reach.
func startServer(t *testing.T, mode, remote string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(remote)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	local := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(serverBin)
	cmd.Env = []string{"PROXY_TYPE=" + mode, "REMOTE_ADDRESS=" + host, "REMOTE_PORT=" + port,
		"LOCAL_PORT=" + strconv.Itoa(local), "KFTRAY_SERVER_HEALTH_ADDR=127.0.0.1:0", "KFTRAY_LOG_LEVEL=info"}
	cmd.Stderr = testLogWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", local)
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("kftray-server never listened on %s", addr)
		}
	}
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// forward is one relay forward as the daemon would run it.
type forward struct {
	d      *relay.Deployer
	r      *relay.Relay
	target *relay.Target
}

func newForward(t *testing.T, c *cluster.Cluster, ns string, owner relay.Owner, sp relay.Spec, backend string) *forward {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	d := &relay.Deployer{Client: c.Client, Host: c.RESTConfig.Host, Owner: owner, Image: "ghcr.io/kftray-go/kftray-server:e2e",
		PodAnnotations: map[string]string{cluster.AnnotationBackendAddr: backend},
		Log:            zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)}
	sp.Namespace = ns
	r, err := d.Deploy(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.RESTConfig
	target := d.NewTarget(r, sp, func(ctx context.Context, ns, pod string) (*tunnel.Conn, error) {
		return tunnel.Dial(ctx, cfg, ns, pod, tunnel.Options{})
	}, wait)
	t.Cleanup(target.Close)
	return &forward{d: d, r: r, target: target}
}

// udpForward starts the UDP side of a forward on a local socket.
func (f *forward) udp(t *testing.T) string {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	client := udprelay.New(pc, f.target.OpenStream, udprelay.Options{MaxBackoff: time.Second,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)})
	done := make(chan struct{})
	go func() { client.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return pc.LocalAddr().String()
}

type peer struct {
	t *testing.T
	c net.Conn
}

func dialPeer(t *testing.T, addr string) *peer {
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t, c}
}

// ask sends q until a reply satisfying ok arrives (a DNS client retries
// too), skipping late replies to earlier tries.
func (p *peer) ask(q string, ok func(string) bool) string {
	p.t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		p.c.Write([]byte(q))
		p.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, err := p.c.Read(buf)
			if err != nil {
				break
			}
			if s := string(buf[:n]); ok(s) {
				return s
			}
		}
	}
	p.t.Fatalf("no reply to %q within %s", q, wait)
	return ""
}

func (p *peer) recv() string {
	p.t.Helper()
	buf := make([]byte, 65536)
	p.c.SetReadDeadline(time.Now().Add(wait))
	n, err := p.c.Read(buf)
	if err != nil {
		p.t.Fatalf("no datagram: %v", err)
	}
	return string(buf[:n])
}

var owner = relay.Owner{User: "e2e", Host: "devcluster", Session: "s1"}

func TestUDPServiceForward(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	dnsPod, dnsAddr := c.UDPEcho(t, ns)
	f := newForward(t, c, ns, owner, relay.Spec{ConfigID: 1, Mode: "udp", RemoteAddress: "dns." + ns + ".svc.cluster.local", RemotePort: 53},
		startServer(t, "udp", dnsAddr))
	local := f.udp(t)

	// DNS-style request/response.
	p := dialPeer(t, local)
	want := dnsPod + ": A web.dev.test"
	if got := p.ask("A web.dev.test", func(s string) bool { return s == want }); got != want {
		t.Fatalf("got %q", got)
	}

	// Two local clients at once each get only their own replies.
	a, b := dialPeer(t, local), dialPeer(t, local)
	a.ask("a warm", func(s string) bool { return s == dnsPod+": a warm" })
	b.ask("b warm", func(s string) bool { return s == dnsPod+": b warm" })
	var wg sync.WaitGroup
	for _, pp := range []struct {
		name string
		p    *peer
	}{{"a", a}, {"b", b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				pp.p.c.Write([]byte(fmt.Sprintf("%s %d", pp.name, i)))
			}
		}()
	}
	wg.Wait()
	for _, pp := range []struct {
		name string
		p    *peer
	}{{"a", a}, {"b", b}} {
		got := 0
		pp.p.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 2048)
		for {
			n, err := pp.p.c.Read(buf)
			if err != nil {
				break
			}
			s := string(buf[:n])
			if !strings.HasPrefix(s, dnsPod+": "+pp.name+" ") && !strings.HasSuffix(s, pp.name+" warm") {
				t.Fatalf("peer %s received %q, meant for another peer", pp.name, s)
			}
			got++
		}
		// UDP may drop under load; most must arrive, none may cross.
		if got < 50 {
			t.Fatalf("peer %s got %d of 100 replies", pp.name, got)
		}
		t.Logf("peer %s: %d/100 replies, all its own", pp.name, got)
	}

	// The relay pod is deleted: the ReplicaSet replaces it and the forward
	// moves to the replacement by itself.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	old := f.target.Pod()
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A reply may still come through the old pod's stream while the
	// deletion is under way, so wait for the move, then ask through it.
	for f.target.Pod() == old || f.target.Pod() == "" {
		if ctx.Err() != nil {
			t.Fatalf("forward still on relay pod %q %v after it was deleted", f.target.Pod(), wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	want = dnsPod + ": after relay pod deleted"
	p.ask("after relay pod deleted", func(s string) bool { return s == want })

	// Stop: the Deployment is gone.
	if err := f.target.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, f.r.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("relay Deployment after stop: %v", err)
	}
}

// A stream of replies to one request: the remote answers "N" with N
// datagrams; all come back, in both directions there is no fixed wait.
func TestUDPManyReplies(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	up, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, src, err := up.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			k, _ := strconv.Atoi(string(buf[:n]))
			for i := range k {
				up.WriteToUDPAddrPort([]byte(fmt.Sprintf("reply %d/%d", i+1, k)), src)
				time.Sleep(time.Millisecond) // a stream, not a burst
			}
		}
	}()
	f := newForward(t, c, ns, owner, relay.Spec{ConfigID: 2, Mode: "udp", RemoteAddress: "stats.internal", RemotePort: 8125},
		startServer(t, "udp", up.LocalAddr().String()))
	p := dialPeer(t, f.udp(t))
	p.ask("1", func(s string) bool { return s == "reply 1/1" })
	p.c.Write([]byte("20"))
	for i := range 20 {
		if got, want := p.recv(), fmt.Sprintf("reply %d/20", i+1); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// A TCP proxy forward to a host only the cluster side can reach.
func TestTCPProxyForward(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	db, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	go func() {
		for {
			conn, err := db.Accept()
			if err != nil {
				return
			}
			go func() { defer conn.Close(); io.Copy(conn, conn) }()
		}
	}()
	f := newForward(t, c, ns, owner, relay.Spec{ConfigID: 3, Mode: "tcp", RemoteAddress: "db.vpc.internal", RemotePort: 5432},
		startServer(t, "tcp", db.Addr().String()))
	local, _ := net.Listen("tcp", "127.0.0.1:0")
	defer local.Close()
	go func() {
		for {
			conn, err := local.Accept()
			if err != nil {
				return
			}
			go f.target.Forward(context.Background(), conn)
		}
	}()
	for i := range 3 {
		conn, err := net.Dial("tcp", local.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(wait))
		msg := strings.Repeat(fmt.Sprintf("row %d|", i), 20000)
		go conn.Write([]byte(msg))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, got); err != nil || string(got) != msg {
			t.Fatalf("connection %d through the relay: %v", i, err)
		}
		conn.Close()
	}
}

// A daemon killed without stopping its forwards leaves its relay behind;
// the next daemon of the same user on the same host finds and cleans it,
// and leaves other users' relays alone.
func TestOrphanedRelayIsCleaned(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	killed := relay.Owner{User: "e2e", Host: "devcluster", Session: "killed"}
	other := relay.Owner{User: "someone-else", Host: "devcluster", Session: "live"}
	for _, o := range []relay.Owner{killed, other} {
		d := &relay.Deployer{Client: c.Client, Owner: o, Image: "ghcr.io/kftray-go/kftray-server:e2e", Log: zerolog.Nop()}
		if _, err := d.Deploy(ctx, relay.Spec{ConfigID: 7, Namespace: ns, Mode: "udp", RemoteAddress: "x", RemotePort: 53}); err != nil {
			t.Fatal(err)
		}
	}
	next := relay.Owner{User: "e2e", Host: "devcluster", Session: "next"}
	list, err := relay.List(ctx, c.Client, c.RESTConfig.Host, ns)
	if err != nil {
		t.Fatal(err)
	}
	orphans := next.Orphans(list)
	if len(orphans) != 1 || orphans[0].OwnerSession != "killed" {
		t.Fatalf("orphans %+v of %+v", orphans, list)
	}
	if err := relay.Clean(ctx, c.Client, c.RESTConfig.Host, orphans); err != nil {
		t.Fatal(err)
	}
	list, _ = relay.List(ctx, c.Client, c.RESTConfig.Host, ns)
	if len(list) != 1 || list[0].OwnerUser != "someone-else" {
		t.Fatalf("after clean: %+v", list)
	}
	// Its pods go too (background propagation through the real GC).
	sel := manifest.LabelManagedBy + "=kftray," + manifest.LabelOwnerSession + "=killed"
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err == nil && len(pods.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan's pods still there: %v", err)
		}
	}
}
