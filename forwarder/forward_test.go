package forwarder

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/fwdconfig"
)

func startWeb(t *testing.T, w *world, opts Options) (*Manager, *Forward) {
	t.Helper()
	m := NewManager(opts)
	t.Cleanup(m.StopAll)
	if err := m.Start(context.Background(), webConfig(1)); err != nil {
		t.Fatal(err)
	}
	f := m.Forward(1)
	waitState(t, f, "running", func(s State) bool { return s.Phase == Running })
	return m, f
}

func TestForwardTransports(t *testing.T) {
	for _, tr := range []tunnel.Transport{tunnel.WebSocket, tunnel.SPDY} {
		t.Run(string(tr), func(t *testing.T) {
			w := newWorld(t)
			w.addPod("web-1")
			w.endpoints("web-1")
			opts := w.options()
			opts.Transport = tr
			_, f := startWeb(t, w, opts)
			st := f.State()
			if st.Pod != "web-1" || st.PodPort != 8080 || st.Transport != string(tr) {
				t.Fatalf("state %+v: want pod web-1, named targetPort http resolved to 8080, transport %s", st, tr)
			}
			addr := f.Addr().String()

			// Many sequential connections, each a small half-closed echo.
			const sequential = 200
			for i := 0; i < sequential; i++ {
				name, c, r := hello(t, addr)
				got, err := echo(c, r, []byte("ping"))
				c.Close()
				if name != "web-1" || err != nil || string(got) != "ping" {
					t.Fatalf("connection %d: pod %q, echo %q, %v", i, name, got, err)
				}
			}

			// 50 concurrent connections, each a checksummed 2 MiB echo.
			const concurrent, size = 50, 2 << 20
			var wg sync.WaitGroup
			errs := make(chan error, concurrent)
			for i := 0; i < concurrent; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					payload := make([]byte, size)
					rand.Read(payload)
					name, c, r := hello(t, addr)
					defer c.Close()
					got, err := echo(c, r, payload)
					switch {
					case err != nil:
						errs <- err
					case name != "web-1":
						errs <- errors.New("served by " + name)
					case sha256.Sum256(got) != sha256.Sum256(payload):
						errs <- errors.New("checksum mismatch")
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			st = waitState(t, f, "connections finished", func(s State) bool { return s.ActiveConns == 0 })
			if st.TotalConns != sequential+concurrent {
				t.Errorf("total conns %d, want %d", st.TotalConns, sequential+concurrent)
			}
			if want := int64(sequential*4 + concurrent*size); st.BytesToPod != want {
				t.Errorf("bytes to pod %d, want %d", st.BytesToPod, want)
			}
			if st.Reconnects != 0 || w.srv.Upgrades() != 1 {
				t.Errorf("reconnects %d, upgrades %d: want one upgraded connection for all", st.Reconnects, w.srv.Upgrades())
			}
		})
	}
}

func TestStreamCutClosesOneLocalConnection(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	w.endpoints("web-1")
	_, f := startWeb(t, w, w.options())
	addr := f.Addr().String()
	_, a, ra := hello(t, addr)
	defer a.Close()
	_, b, rb := hello(t, addr)
	defer b.Close()
	streams := w.srv.Streams(ns, "web-1")
	if len(streams) != 2 {
		t.Fatalf("%d streams on the pod, want 2", len(streams))
	}
	w.srv.Cut(streams[0])
	if _, err := ra.ReadByte(); err == nil {
		t.Fatal("connection whose stream was cut is still open")
	}
	b.Write([]byte("still here"))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(rb, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("other connection broken by one stream's reset: %q %v", buf, err)
	}
	if name, c, _ := hello(t, addr); name != "web-1" {
		t.Fatalf("new connection served by %q", name)
	} else {
		c.Close()
	}
	if st := f.State(); st.Phase != Running || st.Reconnects != 0 {
		t.Fatalf("forward disturbed by one stream reset: %+v", st)
	}
}

func TestPodDeletedNewConnectionsGoToReplacement(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	w.endpoints("web-1")
	_, f := startWeb(t, w, w.options())
	addr := f.Addr().String()
	_, old, oldR := hello(t, addr)
	defer old.Close()

	// The replacement becomes ready, then the served pod goes away.
	w.addPod("web-2")
	w.endpoints("web-1", "web-2")
	w.endpoints("web-2")
	w.deletePod("web-1")
	st := waitState(t, f, "move to web-2", func(s State) bool { return s.Pod == "web-2" && s.Phase == Running })
	if st.Reconnects != 1 {
		t.Errorf("reconnects %d, want 1", st.Reconnects)
	}
	if _, err := oldR.ReadByte(); err == nil {
		t.Error("connection to the deleted pod still open")
	}
	for i := 0; i < 20; i++ {
		name, c, r := hello(t, addr)
		got, err := echo(c, r, []byte("x"))
		c.Close()
		if name != "web-2" || string(got) != "x" || err != nil {
			t.Fatalf("new connection %d after the move: pod %q, %q, %v", i, name, got, err)
		}
	}
}

func TestAPIServerRestartRecovers(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	w.endpoints("web-1")
	var mu sync.Mutex
	var phases []Phase
	opts := w.options()
	opts.ConnWait = 20 * time.Second
	opts.Backoff = Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	opts.Observer = ObserverFunc(func(s State) {
		mu.Lock()
		if len(phases) == 0 || phases[len(phases)-1] != s.Phase {
			phases = append(phases, s.Phase)
		}
		mu.Unlock()
	})
	_, f := startWeb(t, w, opts)
	addr := f.Addr().String()

	w.srv.StopAPI()
	st := waitState(t, f, "retrying", func(s State) bool { return s.Phase == Retrying && s.Attempt >= 2 })
	if !strings.Contains(st.LastError, "unreachable") || st.NextTry.IsZero() {
		t.Errorf("retrying state lacks error or next try: %+v", st)
	}
	// A connection made while the API server is down waits, then works.
	type result struct {
		name string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			res <- result{"", err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		line := make([]byte, 6)
		_, err = io.ReadFull(c, line)
		res <- result{string(line), err}
	}()
	time.Sleep(200 * time.Millisecond) // let it be accepted while down
	if err := w.srv.StartAPI(); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.name != "web-1\n" {
		t.Fatalf("connection accepted during the outage: %q, %v", r.name, r.err)
	}
	st = waitState(t, f, "running again", func(s State) bool { return s.Phase == Running })
	if st.Reconnects < 1 || st.LastError != "" {
		t.Errorf("after recovery: %+v", st)
	}
	mu.Lock()
	got := phases
	mu.Unlock()
	want := []Phase{Starting, Running, Retrying, Running}
	if len(got) < 4 || !equalPhases(got[len(got)-4:], want) {
		t.Errorf("phases %v, want to end with %v", got, want)
	}
}

func equalPhases(a, b []Phase) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestConnWaitIsBounded(t *testing.T) {
	w := newWorld(t)
	w.endpoints() // the service has no ready pod
	opts := w.options()
	opts.ConnWait = 100 * time.Millisecond
	m := NewManager(opts)
	defer m.StopAll()
	if err := m.Start(context.Background(), webConfig(1)); err != nil {
		t.Fatal(err)
	}
	f := m.Forward(1)
	st := waitState(t, f, "retrying with no ready pod", func(s State) bool { return s.Phase == Retrying && strings.Contains(s.LastError, "no ready pod") })
	c, err := net.Dial("tcp", st.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("waiting connection: %v, want EOF (closed after ConnWait)", err)
	}
	// A pod becoming ready brings the forward up without a restart.
	w.addPod("web-1")
	w.endpoints("web-1")
	waitState(t, f, "running", func(s State) bool { return s.Phase == Running })
	if name, c, _ := hello(t, st.Address); name != "web-1" {
		t.Fatalf("served by %q", name)
	} else {
		c.Close()
	}
}

func TestPodWorkload(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	m := NewManager(w.options())
	defer m.StopAll()
	cfg := fwdconfig.Config{ID: 7, Namespace: ns, WorkloadType: "pod", Target: "app=web", RemotePort: 8080}
	if err := m.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	f := m.Forward(7)
	waitState(t, f, "running", func(s State) bool { return s.Phase == Running && s.Pod == "web-1" })
	w.addPod("web-2")
	w.deletePod("web-1")
	waitState(t, f, "moved", func(s State) bool { return s.Phase == Running && s.Pod == "web-2" })
	if name, c, _ := hello(t, f.Addr().String()); name != "web-2" {
		t.Fatalf("served by %q", name)
	} else {
		c.Close()
	}
}

func TestStartErrors(t *testing.T) {
	w := newWorld(t)
	lowPort := webConfig(2)
	lowPort.LocalPort = 80
	hosts := webConfig(3)
	hosts.DomainEnabled = true
	badType := webConfig(4)
	badType.WorkloadType = "proxy"
	udp := webConfig(5)
	udp.Protocol = "udp"
	udp.WorkloadType = "expose"
	noSvc := webConfig(6)
	noSvc.Service = ""
	expose := webConfig(8)
	expose.WorkloadType = "expose"
	for _, tc := range []struct {
		name string
		cfg  fwdconfig.Config
		want string
		skip bool
	}{
		{"low port needs helper", lowPort, HelperInstallCommand, os.Geteuid() == 0},
		{"hostnames need helper", hosts, HelperInstallCommand, false},
		{"proxy without remote address", badType, "workload_type proxy needs remote_address", false},
		{"udp to expose", udp, `workload_type "expose" cannot go through the relay`, false},
		{"no service name", noSvc, "needs the service name", false},
		// kftray runs the relay now; expose is what it does not do.
		{"tcp expose", expose, `workload_type "expose" (a local port exposed into the cluster) is not supported by this kftray; use service, pod or proxy`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip {
				t.Skip("running as root: binding a low port needs no helper")
			}
			var failed State
			opts := w.options()
			opts.Observer = ObserverFunc(func(s State) {
				if s.Phase == Failed {
					failed = s
				}
			})
			m := NewManager(opts)
			defer m.StopAll()
			err := m.Start(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if !strings.Contains(failed.LastError, tc.want) || failed.ID != tc.cfg.ID {
				t.Fatalf("observer saw %+v", failed)
			}
			if m.Forward(tc.cfg.ID) != nil || m.Clusters() != 0 {
				t.Fatal("failed forward left behind")
			}
		})
	}
}

func TestManagerSharesClientAndWatches(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	w.endpoints("web-1")
	loads := 0
	opts := w.options()
	load := opts.LoadCluster
	var mu sync.Mutex
	opts.LoadCluster = func(src kube.Source) (*kube.Cluster, error) {
		mu.Lock()
		loads++
		mu.Unlock()
		return load(src)
	}
	m := NewManager(opts)
	defer m.StopAll()
	var cfgs []fwdconfig.Config
	for i := int64(1); i <= 100; i++ {
		cfgs = append(cfgs, webConfig(i))
	}
	if err := m.Start(context.Background(), cfgs...); err != nil {
		t.Fatal(err)
	}
	for _, id := range m.IDs() {
		waitState(t, m.Forward(id), "running", func(s State) bool { return s.Phase == Running })
	}
	if len(m.IDs()) != 100 || m.Clusters() != 1 || loads != 1 {
		t.Fatalf("%d forwards, %d clusters, %d loads; want 100, 1, 1", len(m.IDs()), m.Clusters(), loads)
	}
	if n := w.srv.Upgrades(); n != 1 {
		t.Fatalf("%d upgraded connections for 100 forwards to one pod, want 1 shared", n)
	}
	// Each forward works.
	for _, st := range m.States()[:5] {
		if name, c, _ := hello(t, st.Address); name != "web-1" {
			t.Fatalf("forward %d served by %q", st.ID, name)
		} else {
			c.Close()
		}
	}
	m.Stop(1, 2, 3)
	if len(m.IDs()) != 97 {
		t.Fatalf("%d left after stopping 3", len(m.IDs()))
	}
	m.StopAll()
	if m.Clusters() != 0 {
		t.Fatal("cluster client kept after every forward stopped")
	}
}

// The kubelet refuses streams to a terminating pod before the watch says
// it is gone: the connection, with what the client already sent, is
// replayed on another ready pod instead of failing.
func TestRefusedConnectionReplayedOnAnotherPod(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	w.addPod("web-2")
	w.endpoints("web-1", "web-2")
	_, f := startWeb(t, w, w.options())
	addr := f.Addr().String()
	if name, c, _ := hello(t, addr); name != "web-1" {
		t.Fatalf("sticky choice %q, want web-1", name)
	} else {
		c.Close()
	}
	// web-1's kubelet refuses; the API still lists it as ready.
	w.srv.DeletePod(ns, "web-1", false)
	for i := 0; i < 10; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write([]byte("sent before any answer"))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "web-2\nsent before any answer" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
	}
	if st := f.State(); st.Pod != "web-2" {
		t.Fatalf("state still on %q", st.Pod)
	}
}

// A lone pod whose process restarts refuses streams for a moment: a
// connection made then waits and goes through once it listens again.
func TestLonePodRefusingBriefly(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	w.endpoints("web-1")
	_, f := startWeb(t, w, w.options())
	addr := f.Addr().String()
	be := w.backends["web-1"]
	w.srv.DeletePod(ns, "web-1", false) // refuses: "pod ... not found"
	done := make(chan string, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write([]byte("x"))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil {
			done <- err.Error()
			return
		}
		done <- string(got)
	}()
	time.Sleep(300 * time.Millisecond) // the connection meets refusals meanwhile
	w.srv.AddPod(ns, "web-1", map[int32]string{8080: be.Addr()})
	if got := <-done; got != "web-1\nx" {
		t.Fatalf("connection made while the pod refused: %q", got)
	}
}

// The API server's connection to the kubelet breaks: a connection made right
// then is replayed on a fresh upgraded connection instead of waiting for
// spdystream's 30 s stream-reply timeout.
func TestKubeletSessionDroppedReplays(t *testing.T) {
	for _, tr := range []tunnel.Transport{tunnel.WebSocket, tunnel.SPDY} {
		t.Run(string(tr), func(t *testing.T) {
			w := newWorld(t)
			w.addPod("web-1")
			w.endpoints("web-1")
			opts := w.options()
			opts.Transport = tr
			opts.ConnWait = 20 * time.Second
			_, f := startWeb(t, w, opts)
			addr := f.Addr().String()
			w.srv.CloseSessions(ns, "web-1")
			name, c, r := hello(t, addr)
			got, err := echo(c, r, []byte("after the drop"))
			c.Close()
			if name != "web-1" || err != nil || string(got) != "after the drop" {
				t.Fatalf("right after the drop: pod %q, %q, %v", name, got, err)
			}
			waitState(t, f, "redialed", func(s State) bool { return s.Reconnects >= 1 && s.Phase == Running })
		})
	}
}

// Spec is the direct port-forward; the relay is not "not running yet" any
// more, so a config that needs it is told to go through it.
func TestSpecSendsRelayConfigsToTheRelay(t *testing.T) {
	udp := webConfig(9)
	udp.Protocol = "udp"
	_, _, err := Spec(udp)
	if err == nil || strings.Contains(err.Error(), "does not run yet") || !strings.Contains(err.Error(), "in-cluster relay") {
		t.Fatalf("Spec(udp) = %v; want it to say the relay forwards UDP", err)
	}
	proxy := webConfig(10)
	proxy.WorkloadType = "proxy"
	_, _, err = Spec(proxy)
	if err == nil || strings.Contains(err.Error(), "does not run yet") {
		t.Fatalf("Spec(proxy) = %v", err)
	}
}
