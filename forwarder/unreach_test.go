package forwarder

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kftray-go/kftray/forwarder/kube"
)

// TestUnreachableAPIServer: with nothing listening at the API server's
// address, a forward shows "retrying" with the reason after its first
// failed attempt, and stops promptly.
func TestUnreachableAPIServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "http://" + ln.Addr().String()
	ln.Close() // connections are now refused

	m := NewManager(Options{LoadCluster: func(src kube.Source) (*kube.Cluster, error) {
		return kube.New(src, "test", &rest.Config{Host: host})
	}})
	t.Cleanup(m.StopAll)
	if err := m.Start(context.Background(), webConfig(1)); err != nil {
		t.Fatal(err)
	}
	f := m.Forward(1)

	// Bounded well below the old 10 s "starting" grace, with room for a
	// loaded machine; a connection refused takes milliseconds.
	deadline := time.Now().Add(3 * time.Second)
	for s := f.State(); s.Phase != Retrying; s = f.State() {
		if time.Now().After(deadline) {
			t.Fatalf("not retrying 3 s after start with the API server refusing connections: %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := f.State()
	if !strings.Contains(s.LastError, "unreachable") || s.Attempt < 1 || s.NextTry.IsZero() {
		t.Errorf("retrying state should name the unreachable API server, attempt and next try: %+v", s)
	}

	time.Sleep(3 * time.Second) // the watches' retry backoff grows meanwhile
	stopped := make(chan struct{})
	go func() { m.Stop(1); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("Stop did not return within 3 s with the API server unreachable")
	}
	if s := f.State(); s.Phase != Stopped {
		t.Errorf("after Stop: phase %s, want %s", s.Phase, Stopped)
	}
}
