// Package daemontest runs a real kftray daemon inside a test's process,
// its clusters an in-process world, for the tests of the programs that
// talk to the daemon (the MCP server, the tray). Only tests import it.
package daemontest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/internal/kubelettest"
	"github.com/kftray-go/kftray/localapi"
)

// World is an in-process cluster: the real kubelet and API-server
// port-forward code (kubelettest) for the data path, client-go's fake
// clientset for the objects. Namespaces default and team; Service "web"
// in default maps port 80 (named http) to pod web-1's 8080, whose backend
// answers with its name and echoes.
type World struct {
	Server    *kubelettest.Server
	Clientset *fake.Clientset
}

// NewWorld starts a World that ends with the test.
func NewWorld(t testing.TB) *World {
	t.Helper()
	srv, err := kubelettest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	be, err := kubelettest.StartBackend("web-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Close)
	srv.AddPod("default", "web-1", map[int32]string{8080: be.Addr()})
	name, port, ready := "http", int32(8080), true
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.0.0.10", Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt(8080), Protocol: corev1.ProtocolTCP}}},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		},
		&discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: "web-xyz", Namespace: "default",
				Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1"}}},
		},
	)
	return &World{Server: srv, Clientset: cs}
}

// Engine returns engine options whose clusters are this world.
func (w *World) Engine() forwarder.Options {
	return forwarder.Options{LoadCluster: func(src kube.Source) (*kube.Cluster, error) {
		cl, err := kube.New(src, "test", w.Server.RESTConfig())
		if err != nil {
			return nil, err
		}
		cl.Client = w.Clientset
		return cl, nil
	}}
}

// Run runs a daemon with opts in this process until the test ends and
// returns a client of it and its status. It logs nothing; an empty Dir is
// a fresh short one (unix socket paths are limited), a zero CounterPeriod
// 20 ms.
func Run(t testing.TB, opts daemon.Options) (*localapi.Client, localapi.Status) {
	t.Helper()
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "kft")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		opts.Dir = dir
	}
	if opts.CounterPeriod == 0 {
		opts.CounterPeriod = 20 * time.Millisecond
	}
	opts.Log = zerolog.Nop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan localapi.Status, 1)
	opts.Ready = func(s localapi.Status) { ready <- s }
	go func() { done <- daemon.Run(ctx, opts) }()
	var st localapi.Status
	select {
	case st = <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not become ready within 15s")
	}
	c := localapi.NewUnixClient(st.Socket)
	t.Cleanup(func() {
		c.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("daemon did not stop within 15s")
		}
	})
	return c, st
}
