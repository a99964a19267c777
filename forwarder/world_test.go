package forwarder

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/kubelettest"
)

// world is the in-process cluster for forwarder tests: the real kubelet and
// API-server port-forward code (kubelettest) for the data path, client-go's
// fake clientset for the objects the resolver watches. Service "web" maps
// port 80 to the named targetPort "http" (container port 8080).
type world struct {
	t        testing.TB
	srv      *kubelettest.Server
	cs       *fake.Clientset
	mu       sync.Mutex
	backends map[string]*kubelettest.Backend
}

const ns = "default"

func newWorld(t testing.TB) *world {
	t.Helper()
	srv, err := kubelettest.Start()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, srv: srv, backends: map[string]*kubelettest.Backend{}}
	w.cs = fake.NewClientset(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}}},
	})
	t.Cleanup(func() {
		srv.Close()
		w.mu.Lock()
		for _, b := range w.backends {
			b.Close()
		}
		w.mu.Unlock()
	})
	return w
}

func (w *world) options() Options {
	return Options{
		LoadCluster: func(src kube.Source) (*kube.Cluster, error) {
			cl, err := kube.New(src, "test", w.srv.RESTConfig())
			if err != nil {
				return nil, err
			}
			cl.Client = w.cs
			return cl, nil
		},
	}
}

// addPod starts a backend for pod name and creates the ready pod.
func (w *world) addPod(name string) {
	w.t.Helper()
	be, err := kubelettest.StartBackend(name)
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	w.backends[name] = be
	w.mu.Unlock()
	w.srv.AddPod(ns, name, map[int32]string{8080: be.Addr()})
	_, err = w.cs.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
}

// deletePod removes the pod from the API and the node: its streams are cut.
func (w *world) deletePod(name string) {
	w.t.Helper()
	if err := w.cs.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		w.t.Fatal(err)
	}
	w.srv.DeletePod(ns, name, false)
}

// endpoints sets the Service's EndpointSlice to these ready pods.
func (w *world) endpoints(ready ...string) {
	w.t.Helper()
	name, port := "web", int32(8080)
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-xyz", Namespace: ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
	for _, p := range ready {
		tr := true
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"},
			Conditions: discoveryv1.EndpointConditions{Ready: &tr},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: p}})
	}
	ctx := context.Background()
	if _, err := w.cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		if _, err := w.cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
			w.t.Fatal(err)
		}
	}
}

func webConfig(id int64) fwdconfig.Config {
	return fwdconfig.Config{ID: id, Alias: fmt.Sprintf("web-%d", id), Namespace: ns, WorkloadType: "service",
		Protocol: "tcp", Service: "web", RemotePort: 80}
}

// waitState polls f until cond holds or fails the test after a bounded wait.
func waitState(t testing.TB, f *Forward, what string, cond func(State) bool) State {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := f.State()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: state %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hello connects to the forward and returns the serving pod's name and the
// connection, positioned after the name line.
func hello(t testing.TB, addr string) (string, net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		t.Fatalf("read hello from %s: %v", addr, err)
	}
	return strings.TrimSpace(line), c, r
}

// echo sends payload, half-closes, and returns everything the pod sent
// after its name line.
func echo(c net.Conn, r *bufio.Reader, payload []byte) ([]byte, error) {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(r)
	if werr := <-errc; werr != nil && err == nil {
		err = werr
	}
	return got, err
}
