package target

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const ns = "default"

func svc(name string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: ports}}
}

func pod(name string, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

type ep struct {
	pod   string
	ready bool
}

func slice(service string, portName string, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: service + "-abc", Namespace: ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
	for _, e := range eps {
		r := e.ready
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"},
			Conditions: discoveryv1.EndpointConditions{Ready: &r},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: e.pod}})
	}
	return es
}

// waitFor polls r until cond holds, failing after a bounded wait.
func waitFor(t *testing.T, r *Resolver, what string, cond func(Target, error) bool) (Target, error) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		ch := r.Changed()
		tg, err := r.Current()
		if cond(tg, err) {
			return tg, err
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("waiting for %s: last target %+v, error %v", what, tg, err)
		}
	}
}

func TestResolveService(t *testing.T) {
	web := map[string]string{"app": "web"}
	httpNamed := corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("web")}
	numeric := corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}
	for _, tc := range []struct {
		name    string
		objs    []runtime.Object
		spec    Spec
		want    Target
		wantErr string
	}{
		{"service port to numeric targetPort",
			[]runtime.Object{svc("web", web, numeric), pod("web-1", true), slice("web", "http", 8080, ep{"web-1", true})},
			Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt32(80)}, Target{Pod: "web-1", Port: 8080}, ""},
		{"service port by name",
			[]runtime.Object{svc("web", web, numeric), pod("web-1", true), slice("web", "http", 8080, ep{"web-1", true})},
			Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromString("http")}, Target{Pod: "web-1", Port: 8080}, ""},
		{"named targetPort from the pod's container ports",
			[]runtime.Object{svc("web", web, httpNamed), pod("web-1", true, corev1.ContainerPort{Name: "web", ContainerPort: 9090}),
				slice("web", "unresolved", 0, ep{"web-1", true})},
			Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt32(80)}, Target{Pod: "web-1", Port: 9090}, ""},
		{"unready endpoint skipped",
			[]runtime.Object{svc("web", web, numeric), pod("web-1", false), pod("web-2", true),
				slice("web", "http", 8080, ep{"web-1", false}, ep{"web-2", true})},
			Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt32(80)}, Target{Pod: "web-2", Port: 8080}, ""},
		{"port name not found in pod",
			[]runtime.Object{svc("web", web, httpNamed), pod("web-1", true, corev1.ContainerPort{Name: "other", ContainerPort: 1}),
				slice("web", "unresolved", 0, ep{"web-1", true})},
			Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt32(80)}, Target{}, `port name "web" not found in pod default/web-1`},
		{"service not found",
			nil, Spec{Kind: Service, Namespace: ns, Name: "nope", Port: intstr.FromInt32(80)}, Target{}, "service default/nope not found"},
		{"service without selector",
			[]runtime.Object{svc("ext", nil, numeric)},
			Spec{Kind: Service, Namespace: ns, Name: "ext", Port: intstr.FromInt32(80)}, Target{}, "has no pod selector"},
		{"service port name unknown",
			[]runtime.Object{svc("web", web, numeric)},
			Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromString("grpc")}, Target{}, "has no TCP port grpc"},
		{"no ready endpoint",
			[]runtime.Object{svc("web", web, numeric), slice("web", "http", 8080, ep{"web-1", false})},
			Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt32(80)}, Target{}, "no ready pod"},
		{"pod selector",
			[]runtime.Object{pod("web-1", false), pod("web-2", true)},
			Spec{Kind: Pod, Namespace: ns, Selector: "app=web", Port: intstr.FromInt32(8080)}, Target{Pod: "web-2", Port: 8080}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inf := NewInformers(fake.NewClientset(tc.objs...), "test", ns)
			defer inf.Close()
			r, err := NewResolver(inf, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := waitFor(t, r, "resolution", func(_ Target, err error) bool {
				return err == nil || !strings.Contains(err.Error(), "waiting for the first list")
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %+v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.Pod != tc.want.Pod || got.Port != tc.want.Port {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestKftrayContainerPortRule(t *testing.T) {
	objs := []runtime.Object{
		svc("web", map[string]string{"app": "web"}, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}),
		pod("web-1", true), slice("web", "http", 8080, ep{"web-1", true}),
	}
	inf := NewInformers(fake.NewClientset(objs...), "test", ns)
	defer inf.Close()
	r, err := NewResolver(inf, Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt32(8080)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, _ := waitFor(t, r, "target", func(t Target, err error) bool { return err == nil })
	if got.Port != 8080 || !strings.Contains(got.Note, "as kftray does") {
		t.Fatalf("got %+v", got)
	}
}

func TestStickyAndReplacement(t *testing.T) {
	cs := fake.NewClientset(
		svc("web", map[string]string{"app": "web"}, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}),
		slice("web", "http", 8080, ep{"web-2", true}),
	)
	inf := NewInformers(cs, "test", ns)
	defer inf.Close()
	r, err := NewResolver(inf, Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt32(80)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitFor(t, r, "web-2", func(t Target, err error) bool { return t.Pod == "web-2" })
	ctx := context.Background()
	update := func(s *discoveryv1.EndpointSlice) {
		if _, err := cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// web-1 sorts first, but the choice is sticky.
	update(slice("web", "http", 8080, ep{"web-1", true}, ep{"web-2", true}))
	waitFor(t, r, "web-1 seen", func(Target, error) bool {
		o, _, _ := inf.endpointSlices().GetIndexer().GetByKey(ns + "/web-abc")
		return o != nil && len(o.(*discoveryv1.EndpointSlice).Endpoints) == 2
	})
	if got, _ := r.Current(); got.Pod != "web-2" {
		t.Fatalf("choice moved to %s while web-2 stayed ready", got.Pod)
	}
	// web-2 stops being ready: move to web-1 at once.
	update(slice("web", "http", 8080, ep{"web-1", true}, ep{"web-2", false}))
	waitFor(t, r, "move to web-1", func(t Target, err error) bool { return t.Pod == "web-1" })
	// web-1 deleted, replacement web-3 ready.
	update(slice("web", "http", 8080, ep{"web-3", true}))
	waitFor(t, r, "move to web-3", func(t Target, err error) bool { return t.Pod == "web-3" })
}

func TestWatchDeniedByRBAC(t *testing.T) {
	cs := fake.NewClientset(svc("web", map[string]string{"app": "web"}, corev1.ServicePort{Port: 80}))
	cs.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "", errors.New("RBAC: access denied"))
	})
	inf := NewInformers(cs, "https://api", ns)
	defer inf.Close()
	r, err := NewResolver(inf, Spec{Kind: Service, Namespace: ns, Name: "web", Port: intstr.FromInt32(80)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = waitFor(t, r, "RBAC error", func(_ Target, err error) bool {
		return err != nil && strings.Contains(err.Error(), "permission denied")
	})
	if !strings.Contains(err.Error(), `you may not list/watch endpointslices in namespace "default"`) {
		t.Fatalf("error %q does not name the verb and resource", err)
	}
}
