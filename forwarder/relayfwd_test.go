package forwarder

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
