package daemon

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/internal/kubelettest"
)

// world is an in-process cluster for the daemon's tests: the real kubelet
// and API-server port-forward code (kubelettest) for the data path,
// client-go's fake clientset for the Service, pod and EndpointSlice the
// engine watches. Service "web" port 80 maps to pod "web-1" port 8080,
// whose backend answers with its name and echoes.
type world struct {
	srv *kubelettest.Server
	cs  *fake.Clientset
	be  *kubelettest.Backend
}

func newWorld() (*world, error) {
	srv, err := kubelettest.Start()
	if err != nil {
		return nil, err
	}
	be, err := kubelettest.StartBackend("web-1")
	if err != nil {
		srv.Close()
		return nil, err
	}
	srv.AddPod("default", "web-1", map[int32]string{8080: be.Addr()})
	name, port, ready := "web", int32(8080), true
	cs := fake.NewClientset(
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromInt(8080)}}},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
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
	return &world{srv: srv, cs: cs, be: be}, nil
}

func (w *world) close() {
	w.srv.Close()
	w.be.Close()
}

// engine returns engine options whose clusters are this world.
func (w *world) engine() forwarder.Options {
	return forwarder.Options{LoadCluster: func(src kube.Source) (*kube.Cluster, error) {
		cl, err := kube.New(src, "test", w.srv.RESTConfig())
		if err != nil {
			return nil, err
		}
		cl.Client = w.cs
		return cl, nil
	}}
}

func testWorld(t testing.TB) *world {
	t.Helper()
	w, err := newWorld()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	return w
}

// deletePod removes web-1 from the API (the fake clientset) and the node.
func (w *world) deletePod(ctx context.Context) error {
	if err := w.cs.CoreV1().Pods("default").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete pod: %w", err)
	}
	w.srv.DeletePod("default", "web-1", true)
	return nil
}
