package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AnnotationBackendAddr on a pod sends every port-forward to it to
// host:port, a process the test runs itself; AnnotationBackendAddr+"-<port>"
// does so for one container port.
const AnnotationBackendAddr = "devcluster.kftray.dev/backend-addr"

// AnnotationBackends is set by the kubelet once a pod's backends run: a JSON
// object from "<port>/<protocol>" to the backend's 127.0.0.1:N address.
const AnnotationBackends = "devcluster.kftray.dev/backends"

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a fresh namespace for the test, named after it, waits
// until pods can be created in it, and deletes it when the test ends.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	base := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "-")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := base + "-" + hex.EncodeToString(suffix)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.CreateNamespace(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return name
}

// CreateNamespace creates a namespace (if missing) and waits for its default
// service account, without which pods are not admitted.
func (c *Cluster) CreateNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if poll(waitCtx, "default service account in namespace "+name, func() error {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(waitCtx, "default", metav1.GetOptions{})
		return err
	}) == nil {
		return nil
	}
	// After an API-server restart the controller manager's service-account
	// controller can take over 30 s to see new namespaces (its watches back
	// off). The object it would create is plain: create it ourselves.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if _, err := c.Client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the default service account in namespace %s: %w", name, err)
	}
	return nil
}

// App is a Deployment with a Service in front of it.
type App struct {
	Name     string
	Replicas int32 // default 1
	// Ports of the one container; default one HTTP port "http" 8080.
	Ports []corev1.ContainerPort
	// ServicePorts; default: port 80 to targetPort "http" (by name).
	ServicePorts []corev1.ServicePort
	// PodAnnotations, e.g. AnnotationBackendAddr.
	PodAnnotations map[string]string
}

// WebApp is "web", the App the forwarding tests and benchmarks use: the
// backend's HTTP port ("http" 8080, Service port 80) and its echo port
// ("echo" 9000, Service port 9000).
func WebApp(replicas int32) App {
	return App{
		Name:     "web",
		Replicas: replicas,
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			{Name: "echo", ContainerPort: 9000, Protocol: corev1.ProtocolTCP},
		},
		ServicePorts: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			{Name: "echo", Port: 9000, TargetPort: intstr.FromString("echo"), Protocol: corev1.ProtocolTCP},
		},
	}
}

// Deploy creates app's Deployment and Service in namespace.
func (c *Cluster) Deploy(ctx context.Context, namespace string, app App) error {
	if app.Replicas == 0 {
		app.Replicas = 1
	}
	if app.Ports == nil {
		app.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
	}
	if app.ServicePorts == nil {
		app.ServicePorts = []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}
	}
	labels := map[string]string{"app": app.Name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app.Name, Namespace: namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &app.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: app.PodAnnotations},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:  app.Name,
						Image: "devcluster.invalid/backend:latest", // never pulled: KWOK runs no containers
						Ports: app.Ports,
					}},
					TerminationGracePeriodSeconds: new(int64),
				},
			},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment %s/%s: %w", namespace, app.Name, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: app.Name, Namespace: namespace, Labels: labels},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: app.ServicePorts},
	}
	if _, err := c.Client.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create service %s/%s: %w", namespace, app.Name, err)
	}
	return nil
}

// ReadyPods waits until the Service's EndpointSlices list exactly n ready
// endpoints backed by pods, none of them in exclude, and returns those
// pods' names, sorted.
func (c *Cluster) ReadyPods(ctx context.Context, namespace, service string, n int, exclude ...string) ([]string, error) {
	var names []string
	err := poll(ctx, fmt.Sprintf("%d ready endpoints of service %s/%s", n, namespace, service), func() error {
		slices, err := c.Client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=" + service,
		})
		if err != nil {
			return err
		}
		names = names[:0]
		seen := map[string]bool{}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || seen[e.TargetRef.Name] {
					continue
				}
				if e.Conditions.Ready == nil || !*e.Conditions.Ready {
					continue
				}
				seen[e.TargetRef.Name] = true
				names = append(names, e.TargetRef.Name)
			}
		}
		for _, x := range exclude {
			if seen[x] {
				return fmt.Errorf("endpoints still include %s: %v", x, names)
			}
		}
		if len(names) != n {
			return fmt.Errorf("have %d ready endpoints %v", len(names), names)
		}
		return nil
	})
	sort.Strings(names)
	return names, err
}

// poll runs f every 50 ms until it returns nil or ctx ends.
func poll(ctx context.Context, what string, f func() error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// DemoNamespace holds the demo workload DeployDemo creates.
const DemoNamespace = "demo"

// DeployDemo creates the demo workload in namespace "demo":
//   - web: 2 replicas of the HTTP backend, Service port 80 to the named
//     targetPort "http" (container port 8080);
//   - echo: TCP echo, Service port 9000 to "tcp-echo" (9000);
//   - udp-echo: UDP echo, Service port 53/UDP to "udp-echo" (5353/UDP).
//
// It waits until every Service has ready endpoints.
func (c *Cluster) DeployDemo(ctx context.Context) error {
	if err := c.CreateNamespace(ctx, DemoNamespace); err != nil {
		return err
	}
	apps := []App{
		{Name: "web", Replicas: 2},
		{
			Name:         "echo",
			Ports:        []corev1.ContainerPort{{Name: "tcp-echo", ContainerPort: 9000, Protocol: corev1.ProtocolTCP}},
			ServicePorts: []corev1.ServicePort{{Name: "tcp-echo", Port: 9000, TargetPort: intstr.FromString("tcp-echo"), Protocol: corev1.ProtocolTCP}},
		},
		{
			Name:         "udp-echo",
			Ports:        []corev1.ContainerPort{{Name: "udp-echo", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}},
			ServicePorts: []corev1.ServicePort{{Name: "udp-echo", Port: 53, TargetPort: intstr.FromString("udp-echo"), Protocol: corev1.ProtocolUDP}},
		},
	}
	for _, app := range apps {
		if err := c.Deploy(ctx, DemoNamespace, app); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	for _, app := range apps {
		n := int(max(app.Replicas, 1))
		if _, err := c.ReadyPods(ctx, DemoNamespace, app.Name, n); err != nil {
			return err
		}
	}
	return nil
}

// UDPEcho deploys "dns", a UDP echo app ("<pod>: <datagram>") behind a
// Service on port 53, and returns its pod and that pod's UDP backend
// address: what a relay process run by the test reaches, as the relay pod
// would reach the Service.
func (c *Cluster) UDPEcho(t testing.TB, ns string) (pod, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.Deploy(ctx, ns, App{Name: "dns",
		Ports:        []corev1.ContainerPort{{Name: "udp-echo", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}},
		ServicePorts: []corev1.ServicePort{{Name: "dns", Port: 53, TargetPort: intstr.FromString("udp-echo"), Protocol: corev1.ProtocolUDP}}})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, "dns", 1)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := c.Pod(ctx, ns, pods[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range pb.Backends {
		if b.Protocol == "UDP" {
			return pods[0], b.Address
		}
	}
	t.Fatalf("pod %s has no UDP backend: %+v", pods[0], pb)
	return "", ""
}
