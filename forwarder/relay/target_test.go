package relay

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/forwarder/udprelay"
	"github.com/kftray-go/kftray/internal/kubelettest"
	"github.com/kftray-go/kftray/relayserver"
)

// This test runs a UDP forward through everything real except the control
// plane: udprelay.Client -> port-forward (client-go dialers, the API
// server's upgrade proxy, the kubelet's port-forward server, from
// kubelettest) -> a real kftray-server in udp mode -> a real UDP upstream.
// Deployments and pods are objects in client-go's tracker that the test
// moves through their states; the e2e suite does the same on the dev cluster
// with real controllers.
func TestUDPForwardThroughRelayPod(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)

	// The "cluster side": a DNS-style UDP server and relay processes that
	// stand in for the relay pods' container.
	upstream, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, src, err := upstream.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			upstream.WriteToUDPAddrPort(append([]byte("answer:"), buf[:n]...), src)
		}
	}()
	var relays []chan struct{}
	defer func() {
		cancel()
		for _, r := range relays {
			<-r // relays log until they stop; the test must outlive them
		}
	}()
	startRelayProcess := func() string {
		s, err := relayserver.New(relayserver.Config{Mode: relayserver.ModeUDP, RemoteAddress: "127.0.0.1",
			RemotePort: upstream.LocalAddr().(*net.UDPAddr).Port}, log)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		stopped := make(chan struct{})
		relays = append(relays, stopped)
		go func() { s.Serve(ctx, ln); close(stopped) }()
		return ln.Addr().String()
	}

	kl, err := kubelettest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer kl.Close()
	cs := fake.NewClientset()
	d := &Deployer{Client: cs, Host: "test", Owner: alice, Image: "reg/kftray-server:v1", Log: log}
	sp := Spec{ConfigID: 9, Namespace: "dev", Mode: "udp", RemoteAddress: "dns.internal", RemotePort: 53}
	r, err := d.Deploy(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	// What the ReplicaSet controller and kubelet would do: a ready pod whose
	// port 8080 is served by a relay process.
	runPod := func(name string) {
		t.Helper()
		kl.AddPod("dev", name, map[int32]string{int32(r.Port): startRelayProcess()})
		p := pod(name, ready)
		p.Labels[labelInstance()] = r.Name
		p.CreationTimestamp = metav1.Now()
		if _, err := cs.CoreV1().Pods("dev").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	killPod := func(name string) {
		kl.DeletePod("dev", name, true)
		cs.CoreV1().Pods("dev").Delete(ctx, name, metav1.DeleteOptions{})
	}
	runPod("relay-a")

	cfg := kl.RESTConfig()
	target := d.NewTarget(r, sp, func(ctx context.Context, ns, pod string) (*tunnel.Conn, error) {
		return tunnel.Dial(ctx, cfg, ns, pod, tunnel.Options{})
	}, 5*time.Second)
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	client := udprelay.New(pc, target.OpenStream, udprelay.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: log})
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()

	app, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	// ask retries like a DNS client; answers to earlier retries of an
	// earlier question may still arrive and are skipped.
	ask := func(q string) string {
		t.Helper()
		buf := make([]byte, 2048)
		for range 50 {
			app.Write([]byte(q))
			app.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			for {
				n, err := app.Read(buf)
				if err != nil {
					break
				}
				if got := string(buf[:n]); got == "answer:"+q {
					return got
				}
			}
		}
		t.Fatalf("no answer to %q through the relay (client %+v)", q, client.Stats())
		return ""
	}

	if got := ask("A web.dev.test"); got != "answer:A web.dev.test" {
		t.Fatalf("got %q", got)
	}
	if target.Pod() != "relay-a" {
		t.Fatalf("using pod %q", target.Pod())
	}

	// The relay pod dies and its replacement comes up: the forward moves on.
	killPod("relay-a")
	runPod("relay-b")
	if got := ask("after pod replaced"); got != "answer:after pod replaced" {
		t.Fatalf("got %q", got)
	}
	if target.Pod() != "relay-b" {
		t.Fatalf("using pod %q, want the replacement relay-b", target.Pod())
	}

	// Somebody deletes the Deployment: the next resolution deploys it again.
	if err := cs.AppsV1().Deployments("dev").Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	killPod("relay-b")
	runPod("relay-c")
	if got := ask("after redeploy"); got != "answer:after redeploy" {
		t.Fatalf("got %q", got)
	}
	if ok, _ := d.Exists(ctx, r); !ok {
		t.Fatal("relay Deployment was not deployed again")
	}

	// Stop: the Deployment is gone.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := target.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.Exists(context.Background(), r); ok {
		t.Fatal("relay Deployment still there after Stop")
	}
}

// A relay that never becomes ready is reported with the pod's reason
// through the UDP client's state.
func TestOpenStreamReportsImagePullFailure(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	d := &Deployer{Client: cs, Owner: alice, Image: "reg/kftray-server:v9", Log: zerolog.Nop()}
	sp := spec()
	r, err := d.Deploy(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	p := pod("relay-x", waiting("ImagePullBackOff", "manifest unknown"))
	p.Labels[labelInstance()] = r.Name
	cs.CoreV1().Pods("dev").Create(ctx, p, metav1.CreateOptions{})
	target := d.NewTarget(r, sp, func(context.Context, string, string) (*tunnel.Conn, error) {
		return nil, fmt.Errorf("must not dial a pod that is not ready")
	}, 5*time.Second)
	_, err = target.OpenStream(ctx)
	if err == nil || !strings.Contains(err.Error(), "cannot pull the relay image") || !strings.Contains(err.Error(), "manifest unknown") {
		t.Fatalf("got %v", err)
	}
}

func labelInstance() string { return "app.kubernetes.io/instance" }

// A TCP proxy forward (workload_type=proxy): local connections go through
// port-forward to a relay in tcp mode, which connects to a host only the
// cluster side can reach.
func TestTCPProxyForwardThroughRelayPod(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)

	db, err := net.Listen("tcp", "127.0.0.1:0") // "managed database in the VPC"
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	go func() {
		for {
			c, err := db.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	dbPort := db.Addr().(*net.TCPAddr).Port
	relaySrv, err := relayserver.New(relayserver.Config{Mode: relayserver.ModeTCP, RemoteAddress: "127.0.0.1", RemotePort: dbPort}, log)
	if err != nil {
		t.Fatal(err)
	}
	rl, _ := net.Listen("tcp", "127.0.0.1:0")
	relayDone := make(chan struct{})
	go func() { relaySrv.Serve(ctx, rl); close(relayDone) }()
	defer func() { cancel(); <-relayDone }()

	kl, err := kubelettest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer kl.Close()
	cs := fake.NewClientset()
	d := &Deployer{Client: cs, Owner: alice, Image: "reg/kftray-server:v1", Log: log}
	sp := Spec{ConfigID: 3, Namespace: "dev", Mode: "tcp", RemoteAddress: "db.vpc.internal", RemotePort: 5432}
	r, err := d.Deploy(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	kl.AddPod("dev", "relay-a", map[int32]string{int32(r.Port): rl.Addr().String()})
	p := pod("relay-a", ready)
	p.Labels[labelInstance()] = r.Name
	cs.CoreV1().Pods("dev").Create(ctx, p, metav1.CreateOptions{})

	cfg := kl.RESTConfig()
	target := d.NewTarget(r, sp, func(ctx context.Context, ns, pod string) (*tunnel.Conn, error) {
		return tunnel.Dial(ctx, cfg, ns, pod, tunnel.Options{})
	}, 5*time.Second)
	defer target.Close()

	// The engine's listener, reduced to its essence.
	local, _ := net.Listen("tcp", "127.0.0.1:0")
	defer local.Close()
	go func() {
		for {
			c, err := local.Accept()
			if err != nil {
				return
			}
			go target.Forward(ctx, c)
		}
	}()
	for i := range 5 {
		c, err := net.Dial("tcp", local.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := strings.Repeat(fmt.Sprintf("query %d;", i), 5000)
		go c.Write([]byte(msg))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("connection %d: %v (got %d bytes)", i, err, len(got))
		}
		c.Close()
	}
	if st := relaySrv.Stats(); st.Total != 5 {
		t.Fatalf("relay served %d streams, want 5", st.Total)
	}
}
