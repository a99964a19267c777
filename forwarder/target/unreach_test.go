package target

import (
	"errors"
	"net"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kftray-go/kftray/forwarder/kube"
)

// refusingAddr is a loopback address where nothing listens: connections
// are refused at once.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// stallingAddr accepts connections and never answers, like an API server
// behind a dead VPN route that still completes the handshake.
func stallingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func unreachableInformers(t *testing.T, addr string) *Informers {
	t.Helper()
	cfg := &rest.Config{Host: "http://" + addr}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return NewInformers(cs, cfg.Host, ns)
}

// closeWithin fails the test if stop does not return within d (a hang
// guard, not a speed measurement).
func closeWithin(t *testing.T, d time.Duration, what string, stop func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v with the API server unreachable", what, d)
	}
}

func TestUnreachableAPIServer(t *testing.T) {
	for _, spec := range []Spec{
		{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt(80)},
		{Kind: Pod, Namespace: ns, Selector: "app=web", Port: intstr.FromInt(8080)},
	} {
		t.Run("refused/"+string(spec.Kind), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			inf := unreachableInformers(t, refusingAddr(t))
			r, err := NewResolver(inf, spec)
			if err != nil {
				t.Fatal(err)
			}
			// The first failed list is reported, not hidden behind
			// "waiting for the first list".
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, err = r.Current()
				if err != nil && !errors.Is(err, ErrNotSynced) {
					if !kube.IsUnreachable(err) {
						t.Errorf("error does not say the API server is unreachable: %v", err)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("no error reported within 5 s of refused connections; still: %v", err)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Let the watches retry for a while: their backoff grows to
			// several seconds, and stopping must not wait it out.
			time.Sleep(time.Until(start.Add(8 * time.Second)))
			r.Close()
			closeWithin(t, 3*time.Second, "Informers.Close", inf.Close)
		})
	}
	t.Run("stalled", func(t *testing.T) {
		inf := unreachableInformers(t, stallingAddr(t))
		r, err := NewResolver(inf, Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt(80)})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // the list is under way and stuck
		if _, err := r.Current(); !errors.Is(err, ErrNotSynced) {
			t.Errorf("with the list stuck: error %v, want %v", err, ErrNotSynced)
		}
		r.Close()
		closeWithin(t, 3*time.Second, "Informers.Close", inf.Close)
	})
}
