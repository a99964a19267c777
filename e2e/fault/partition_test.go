//go:build e2e && linux

package fault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
)

// TestNetworkPartition runs the forwarder in its own network namespace,
// joined to the host's by a veth pair; it reaches the API server only
// through that pair (a relay on the host side of it forwards to the API
// server on loopback). The host side of the pair goes down for 7 s
// (Telepresence's test): the forwarder's packets are dropped, nothing is
// refused. The forward must notice (pings), retry and recover by itself.
func TestNetworkPartition(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespace and veth pair")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	c := cluster.Get(t)
	nn := newNetns(t)
	relay := startRelay(t, nn.hostIP+":0", strings.TrimPrefix(c.RESTConfig.Host, "https://"))
	kubeconfig := rewriteKubeconfig(t, c.Kubeconfig, "https://"+relay.String())

	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			ns := c.Namespace(t)
			pods := deploy(t, c, ns, 1)
			cfg := webConfig(c, ns, 1, 80)
			cfg.Kubeconfig = kubeconfig
			const ping, dead = time.Second, 3 * time.Second
			ch := startChild(t, childSpec{Config: cfg, Transport: tr, PingPeriod: ping, DeadAfter: dead, ConnWait: 5 * time.Second},
				"ip", "netns", "exec", nn.name)
			addr := ch.last.Address // loopback inside the namespace
			eventually(t, nn.dial, addr, pods[0], 30*time.Second)
			_, mark := ch.phases(0)

			nn.link(t, "down")
			cut := time.Now()
			time.Sleep(7 * time.Second)
			nn.link(t, "up")
			healed := time.Now()

			ch.wait("running after the partition", 60*time.Second, func(s forwarder.State) bool { return s.Phase == forwarder.Running })
			eventually(t, nn.dial, addr, pods[0], 60*time.Second)
			served := time.Since(healed)
			seq, _ := ch.phases(mark)
			st := ch.last
			t.Logf("%s: packets dropped for %v; first request OK %v after the link came back; phases %v; reconnects %d; relayed connections %d",
				tr, healed.Sub(cut).Round(time.Millisecond), served.Round(time.Millisecond), seq, st.Reconnects, relay.count())
		})
	}
}

// netns is a network namespace linked to the host's by a veth pair.
type netns struct {
	name, hostIf, hostIP string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	n := &netns{name: "kftray-fault-" + id, hostIf: "kfh" + id}
	peer := "kfn" + id
	subnet := fmt.Sprintf("10.231.%d", b[0])
	n.hostIP = subnet + ".1"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", n.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })
	run("link", "add", n.hostIf, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", n.hostIf).Run() })
	run("link", "set", peer, "netns", n.name)
	run("addr", "add", n.hostIP+"/30", "dev", n.hostIf)
	run("link", "set", n.hostIf, "up")
	run("-n", n.name, "addr", "add", subnet+".2/30", "dev", peer)
	run("-n", n.name, "link", "set", peer, "up")
	run("-n", n.name, "link", "set", "lo", "up")
	return n
}

// link sets the host side of the pair up or down. Down, the namespace's
// side keeps its address and routes and its packets are dropped silently
// (the peer is not running), as on a network that stopped answering.
func (n *netns) link(t *testing.T, state string) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "set", n.hostIf, state).CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s %s: %v\n%s", n.hostIf, state, err, out)
	}
}

// dial connects from inside the namespace: the socket is created on a
// thread that has joined it, and belongs to it from then on.
func (n *netns) dial(ctx context.Context, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", n.name))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("setns %s: %w", n.name, err)
	}
	var d net.Dialer
	conn, derr := d.DialContext(ctx, "tcp", addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread stays in the namespace: keep it locked so that it
		// exits with this goroutine rather than run others.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return conn, derr
}

// relay accepts on the host side of the pair and forwards to the API server.
type relay struct {
	ln net.Listener
	mu sync.Mutex
	n  int
}

func startRelay(t *testing.T, listen, upstream string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.n++
			r.mu.Unlock()
			go func() {
				defer down.Close()
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, down); done <- struct{}{} }()
				go func() { _, _ = io.Copy(down, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return r
}

func (r *relay) String() string { return r.ln.Addr().String() }

func (r *relay) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// rewriteKubeconfig points a copy of the kubeconfig at server, still
// verifying the API server's certificate for its loopback address.
func rewriteKubeconfig(t *testing.T, path, server string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		u, err := url.Parse(cl.Server)
		if err != nil {
			t.Fatal(err)
		}
		cl.TLSServerName = u.Hostname()
		cl.Server = server
	}
	out := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, out); err != nil {
		t.Fatal(err)
	}
	return out
}
