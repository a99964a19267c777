package forwarder

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
)

func TestRelaySpec(t *testing.T) {
	tests := []struct {
		name    string
		cfg     fwdconfig.Config
		relay   bool
		want    string // remote host:port and mode, or error substring
		wantErr bool
	}{
		{"udp service", fwdconfig.Config{ID: 1, Namespace: "dev", Service: "dns", Protocol: "udp", RemotePort: 53}, true, "udp dns.dev.svc.cluster.local:53", false},
		{"tcp proxy", fwdconfig.Config{ID: 2, Namespace: "dev", WorkloadType: "proxy", RemoteAddress: "db.vpc", RemotePort: 5432}, true, "tcp db.vpc:5432", false},
		{"udp proxy", fwdconfig.Config{ID: 3, Namespace: "dev", WorkloadType: "Proxy", Protocol: "UDP", RemoteAddress: "10.0.0.2", RemotePort: 514}, true, "udp 10.0.0.2:514", false},
		{"tcp service is not relayed", fwdconfig.Config{Namespace: "dev", Service: "web", Protocol: "tcp", RemotePort: 80}, false, "", false},
		{"proxy without address", fwdconfig.Config{Alias: "db", Namespace: "dev", WorkloadType: "proxy", RemotePort: 5432}, true, "db: workload_type proxy needs remote_address", true},
		{"udp pod", fwdconfig.Config{Namespace: "dev", WorkloadType: "pod", Target: "app=dns", Protocol: "udp", RemotePort: 53}, true, "udp :53", false},
		{"udp pod without selector", fwdconfig.Config{Namespace: "dev", WorkloadType: "pod", Protocol: "udp", RemotePort: 53}, true, "needs a label selector", true},
		{"udp pod bad selector", fwdconfig.Config{Namespace: "dev", WorkloadType: "pod", Target: "app in (", Protocol: "udp", RemotePort: 53}, true, "invalid label selector", true},
		{"no namespace", fwdconfig.Config{Service: "dns", Protocol: "udp", RemotePort: 53}, true, "namespace is empty", true},
		{"bad port", fwdconfig.Config{Namespace: "dev", Service: "dns", Protocol: "udp"}, true, "remote_port 0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRelay(tt.cfg); got != tt.relay {
				t.Fatalf("NeedsRelay = %v, want %v", got, tt.relay)
			}
			if !tt.relay {
				return
			}
			s, err := RelaySpec(tt.cfg)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want error with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Mode + " " + net.JoinHostPort(s.RemoteAddress, itoa(s.RemotePort)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestDirectBinderListenPacket(t *testing.T) {
	privileged := unprivilegedPortStart() <= 53 || os.Geteuid() == 0
	tests := []struct {
		name       string
		req        BindRequest
		needHelper bool   // errors.Is(err, ErrNeedsHelper)
		errHas     string // substring of the error; "" means success
	}{
		{"high port on 127.0.0.1", BindRequest{Network: "udp"}, false, ""},
		{"udp4", BindRequest{Network: "udp4", IP: "127.0.0.1"}, false, ""},
		{"low port", BindRequest{Network: "udp", Port: 53}, true, "ports below"},
		{"allocated address", BindRequest{Network: "udp", AutoLoopback: true}, true, "allocated loopback address"},
		{"hostnames", BindRequest{Network: "udp", Hostnames: []string{"dns.dev.test"}}, true, "hostnames in /etc/hosts"},
		{"tcp is not a packet network", BindRequest{Network: "tcp", Port: 5353}, false, `network "tcp" is not a packet network`},
		{"not an address", BindRequest{Network: "udp", IP: "dns.invalid"}, false, "listen on udp dns.invalid:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Port == 53 && privileged {
				t.Skip("this user may bind port 53")
			}
			pc, err := DirectBinder{}.ListenPacket(context.Background(), tt.req)
			if tt.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				pc.Close()
				return
			}
			if pc != nil {
				pc.Close()
				t.Fatalf("bound %s, want an error", pc.LocalAddr())
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.errHas)
			}
			if got := errors.Is(err, ErrNeedsHelper); got != tt.needHelper {
				t.Fatalf("errors.Is(%v, ErrNeedsHelper) = %v, want %v", err, got, tt.needHelper)
			}
			if tt.needHelper && !strings.Contains(err.Error(), HelperInstallCommand) {
				t.Fatalf("err = %v: does not say how to install the helper", err)
			}
		})
	}
}

func TestDirectBinderListenPacketInUse(t *testing.T) {
	pc, err := DirectBinder{}.ListenPacket(context.Background(), BindRequest{Network: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_, err = DirectBinder{}.ListenPacket(context.Background(), BindRequest{Network: "udp", Port: port})
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "local_port") {
		t.Fatalf("second bind of port %d: %v", port, err)
	}
}

// tcpOnlyBinder is a Binder that cannot bind packet sockets.
type tcpOnlyBinder struct{}

func (tcpOnlyBinder) Listen(context.Context, BindRequest) (net.Listener, error) {
	return nil, errors.New("not for UDP")
}

// recordingBinder binds directly and counts its ListenPacket calls.
type recordingBinder struct {
	DirectBinder
	packets *int
}

func (b recordingBinder) ListenPacket(ctx context.Context, req BindRequest) (net.PacketConn, error) {
	*b.packets++
	return b.DirectBinder.ListenPacket(ctx, req)
}

func TestListenUDPUsesPacketBinder(t *testing.T) {
	ctx := context.Background()
	n := 0
	pc, err := listenUDP(ctx, recordingBinder{packets: &n}, BindRequest{Network: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	pc.Close()
	if n != 1 {
		t.Fatalf("the forward's PacketBinder was called %d times, want 1", n)
	}
	// A TCP-only Binder: bind directly, with the same advice when that
	// needs the helper.
	pc, err = listenUDP(ctx, tcpOnlyBinder{}, BindRequest{Network: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	pc.Close()
	_, err = listenUDP(ctx, tcpOnlyBinder{}, BindRequest{Network: "udp", AutoLoopback: true})
	if !errors.Is(err, ErrNeedsHelper) {
		t.Fatalf("err = %v, want ErrNeedsHelper", err)
	}
}

func TestPipeListener(t *testing.T) {
	l := newPipeListener(&net.UDPAddr{})
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	rw, err := l.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	go rw.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(rw, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("got %q %v", buf, err)
	}
	rw.Close()
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := l.dial(context.Background()); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

// A relay that never gets ready fails the start and leaves nothing behind:
// no forward, no cluster client, no Deployment.
func TestRelayStartFailureCleansUp(t *testing.T) {
	w := newWorld(t)
	cfg := webConfig(7)
	cfg.Protocol = "udp"
	opts := w.options()
	opts.Relay.ReadyTimeout = 300 * time.Millisecond
	opts.Relay.Image = "reg/kftray-server:v1"
	m := NewManager(opts)
	defer m.StopAll()
	err := m.Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "not ready after 300ms") {
		t.Fatalf("got %v", err)
	}
	if m.Forward(cfg.ID) != nil || m.Clusters() != 0 {
		t.Fatal("failed relay forward left behind")
	}
	deps, _ := w.cs.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
	if len(deps.Items) != 0 {
		t.Fatalf("relay Deployment left behind: %s", deps.Items[0].Name)
	}
}

// A UDP forward to a pod workload points its relay at a ready pod's IP and
// moves it when that pod goes.
func TestRelayFollowsTargetPodIP(t *testing.T) {
	ctx := context.Background()
	mkPod := func(name, ip string, ready bool) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dev", Labels: map[string]string{"app": "dns"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
	}
	cs := fake.NewClientset(mkPod("dns-a", "10.1.0.1", true))
	_, ip, err := podIP(ctx, cs, "test", "dev", "app=dns")
	if err != nil || ip != "10.1.0.1" {
		t.Fatalf("podIP: %q %v", ip, err)
	}
	d := &relay.Deployer{Client: cs, Owner: relay.Owner{User: "u", Host: "h", Session: "s"}, Image: "reg/x:v1", Log: zerolog.Nop()}
	spec := relay.Spec{ConfigID: 4, Namespace: "dev", Mode: "udp", RemoteAddress: ip, RemotePort: 53}
	r, err := d.Deploy(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	rf := &relayForward{d: d, r: r, spec: spec, podSel: "app=dns", every: time.Second, done: make(chan struct{})}
	remote := func() string {
		dep, err := cs.AppsV1().Deployments("dev").Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "REMOTE_ADDRESS" {
				return e.Value
			}
		}
		return ""
	}
	rf.check()
	if got := remote(); got != "10.1.0.1" {
		t.Fatalf("unchanged pod: relay remote %q", got)
	}
	// dns-a stops being ready, dns-b is: the relay moves to dns-b's IP.
	cs.CoreV1().Pods("dev").Update(ctx, mkPod("dns-a", "10.1.0.1", false), metav1.UpdateOptions{})
	cs.CoreV1().Pods("dev").Create(ctx, mkPod("dns-b", "10.1.0.2", true), metav1.CreateOptions{})
	rf.check()
	if got := remote(); got != "10.1.0.2" {
		t.Fatalf("after the pod changed: relay remote %q, want 10.1.0.2", got)
	}
	// No ready pod at all: keep the last one rather than break the relay.
	cs.CoreV1().Pods("dev").Delete(ctx, "dns-b", metav1.DeleteOptions{})
	rf.check()
	if got := remote(); got != "10.1.0.2" {
		t.Fatalf("with no ready pod: relay remote %q", got)
	}
}
