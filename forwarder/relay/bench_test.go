package relay

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/forwarder/udprelay"
	"github.com/kftray-go/kftray/forwarder/udprelay/udpbench"
	"github.com/kftray-go/kftray/internal/kubelettest"
	"github.com/kftray-go/kftray/relayserver"
)

// BenchmarkUDPForward measures a UDP forward end to end: local UDP socket ->
// udprelay.Client -> port-forward through an API server upgrade proxy and
// the kubelet's port-forward server (kubelettest) -> kftray-server -> UDP
// echo, against the echo reached directly. Run:
//
//	go test -run '^$' -bench UDPForward -benchtime 20000x ./forwarder/relay/
func BenchmarkUDPForward(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	log := zerolog.Nop()

	echo, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, src, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			echo.WriteToUDPAddrPort(buf[:n], src)
		}
	}()
	relaySrv, err := relayserver.New(relayserver.Config{Mode: relayserver.ModeUDP, RemoteAddress: "127.0.0.1",
		RemotePort: echo.LocalAddr().(*net.UDPAddr).Port}, log)
	if err != nil {
		b.Fatal(err)
	}
	rl, _ := net.Listen("tcp", "127.0.0.1:0")
	relayDone := make(chan struct{})
	go func() { relaySrv.Serve(ctx, rl); close(relayDone) }()

	kl, err := kubelettest.Start()
	if err != nil {
		b.Fatal(err)
	}
	cs := fake.NewClientset()
	d := &Deployer{Client: cs, Owner: alice, Image: "reg/kftray-server:v1", Log: log}
	sp := Spec{ConfigID: 1, Namespace: "dev", Mode: "udp", RemoteAddress: "echo", RemotePort: 7}
	r, err := d.Deploy(ctx, sp)
	if err != nil {
		b.Fatal(err)
	}
	kl.AddPod("dev", "relay-a", map[int32]string{int32(r.Port): rl.Addr().String()})
	p := pod("relay-a", ready)
	p.Labels[labelInstance()] = r.Name
	cs.CoreV1().Pods("dev").Create(ctx, p, metav1.CreateOptions{})
	cfg := kl.RESTConfig()
	target := d.NewTarget(r, sp, func(ctx context.Context, ns, pod string) (*tunnel.Conn, error) {
		return tunnel.Dial(ctx, cfg, ns, pod, tunnel.Options{})
	}, 5*time.Second)
	pc, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	pc.SetReadBuffer(4 << 20)
	client := udprelay.New(pc, target.OpenStream, udprelay.Options{Logger: log})
	clientDone := make(chan error, 1)
	go func() { clientDone <- client.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-clientDone
		target.Close()
		kl.Close()
		<-relayDone
		echo.Close()
	})

	for _, tg := range []struct{ name, addr string }{
		{"direct", echo.LocalAddr().String()},
		{"portforward", pc.LocalAddr().String()},
	} {
		c, err := udpbench.Dial(tg.addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		udpbench.Run(b, tg.name, c)
	}
}
