package forwarder

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/fwdconfig"
)

// Benchmarks of the forwarding path through the in-process API server and
// kubelet code, against a direct loopback connection to the same backend
// (the limit). Run:
//
//	go test -run '^$' -bench . -benchtime 3s ./forwarder/
//
// "direct" connects to the pod's backend itself; websocket and spdy go
// through a forward (local listener → upgraded connection → API server
// proxy → kubelet port-forward → backend) with that transport; client-go is
// client-go's PortForwarder (kubectl port-forward's engine, WebSocket with
// SPDY fallback) on the same path, the baseline to beat.
func benchTargets(b *testing.B) map[string]string {
	w := newWorld(b)
	w.addPod("web-1")
	w.endpoints("web-1")
	out := map[string]string{"direct": w.backends["web-1"].Addr()}
	for i, tr := range []tunnel.Transport{tunnel.WebSocket, tunnel.SPDY} {
		opts := w.options()
		opts.Transport = tr
		m := NewManager(opts)
		b.Cleanup(m.StopAll)
		if err := m.Start(context.Background(), webConfig(int64(i+1))); err != nil {
			b.Fatal(err)
		}
		f := m.Forward(int64(i + 1))
		waitState(b, f, "running", func(s State) bool { return s.Phase == Running })
		out[string(tr)] = f.Addr().String()
	}
	out["client-go"] = clientGoForward(b, w)
	return out
}

// clientGoForward starts client-go's own PortForwarder (what kubectl
// port-forward runs) to web-1 through the same server: the baseline.
func clientGoForward(b *testing.B, w *world) string {
	cfg := w.srv.RESTConfig()
	u, err := tunnel.PortForwardURL(cfg, ns, "web-1")
	if err != nil {
		b.Fatal(err)
	}
	rt, up, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	spdyDialer := spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		b.Fatal(err)
	}
	d := portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.New(d, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pf.ForwardPorts() }()
	b.Cleanup(func() { close(stop); <-done })
	select {
	case <-ready:
	case err := <-done:
		b.Fatal(err)
	}
	ports, err := pf.GetPorts()
	if err != nil {
		b.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local)))
}

// BenchmarkNewConnection: connect, receive the pod's first bytes, close.
func BenchmarkNewConnection(b *testing.B) {
	targets := benchTargets(b)
	for _, name := range []string{"direct", "websocket", "spdy", "client-go"} {
		b.Run(name, func(b *testing.B) {
			addr := targets[name]
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkBulk: 1 MiB each way per op over one connection (echo).
func BenchmarkBulk(b *testing.B) {
	targets := benchTargets(b)
	chunk := make([]byte, 1<<20)
	for _, name := range []string{"direct", "websocket", "spdy", "client-go"} {
		b.Run(name, func(b *testing.B) {
			c, err := net.Dial("tcp", targets[name])
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReaderSize(c, 64<<10)
			if _, err := r.ReadString('\n'); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(chunk)))
			buf := make([]byte, len(chunk))
			errc := make(chan error, 1)
			for b.Loop() {
				go func() {
					_, err := c.Write(chunk)
					errc <- err
				}()
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Fatal(err)
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStart100: start 100 forwards to one service at once, wait until
// all run, stop them. Reports the live heap and goroutines per running
// forward. The in-process API server and kubelet run in this process too,
// so their share of each upgraded connection is included: an upper bound
// for the daemon's own cost.
func BenchmarkStart100(b *testing.B) {
	w := newWorld(b)
	w.addPod("web-1")
	w.endpoints("web-1")
	cfgs := make([]fwdconfig.Config, 100)
	for i := range cfgs {
		cfgs[i] = webConfig(int64(i + 1))
	}
	var heapPer, gorPer float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		m := NewManager(w.options())
		if err := m.Start(context.Background(), cfgs...); err != nil {
			b.Fatal(err)
		}
		for _, id := range m.IDs() {
			waitState(b, m.Forward(id), "running", func(s State) bool { return s.Phase == Running })
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heapPer = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / 100
		gorPer = float64(runtime.NumGoroutine()-g0) / 100
		m.StopAll()
	}
	b.ReportMetric(heapPer, "heapB/forward")
	b.ReportMetric(gorPer, "goroutines/forward")
}
