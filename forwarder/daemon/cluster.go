package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/localapi"
)

// clusterTimeout bounds one cluster call made for an API client (loading
// the kubeconfig included): a picker must answer, not hang on a dead VPN.
const clusterTimeout = 10 * time.Second

// cluster loads the client for ref, with the error's HTTP status: 400 for
// a kubeconfig or context that does not work.
func (d *daemon) cluster(ref localapi.ClusterRef) (*kube.Cluster, error) {
	cl, err := d.load(kube.Source{Kubeconfig: ref.Kubeconfig, Context: ref.Context})
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, kube.ErrConfig) {
			code = http.StatusBadRequest
		}
		return nil, httpapi.WithStatus(code, err)
	}
	return cl, nil
}

// listError explains a failed listing of resource in ns ("" cluster-wide)
// and gives it its HTTP status: 403 when RBAC forbids it (the user may
// type instead what the picker would offer), 502 when the cluster cannot
// be reached or does not answer in time.
func listError(ctx context.Context, cl *kube.Cluster, resource, ns, typeInstead string, err error) error {
	where := fmt.Sprintf("in namespace %q", ns)
	if ns == "" {
		where = "(cluster-wide)"
	}
	host := cl.Config.Host
	switch {
	case apierrors.IsForbidden(err):
		return httpapi.WithStatus(http.StatusForbidden, fmt.Errorf(
			"permission denied: context %q may not list %s %s; type %s instead, or ask a cluster admin for RBAC permission to list %s (the API server said: %w)",
			cl.Context, resource, where, typeInstead, resource, err))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return httpapi.WithStatus(http.StatusBadGateway, fmt.Errorf(
			"API server %s (context %q) did not answer within %s when listing %s; check the cluster is running and reachable (VPN, proxy): %w",
			host, cl.Context, clusterTimeout, resource, err))
	case apierrors.IsNotFound(err):
		return httpapi.WithStatus(http.StatusNotFound, kube.Explain(host, kube.Op{Verb: "list", Resource: resource, Namespace: ns}, err))
	}
	// Unreachable, rejected credentials, or another failure of the cluster.
	return httpapi.WithStatus(http.StatusBadGateway, kube.Explain(host, kube.Op{Verb: "list", Resource: resource, Namespace: ns}, err))
}

// truncated reports whether a listing limited to MaxListItems was cut.
func truncated(meta metav1.ListMeta, n int) bool {
	return meta.Continue != "" || n > localapi.MaxListItems
}

func (d *daemon) Contexts(ctx context.Context, kubeconfig string) ([]localapi.KubeContext, error) {
	list, err := kube.Contexts(kubeconfig)
	if err != nil {
		return nil, httpapi.WithStatus(http.StatusBadRequest, err)
	}
	out := make([]localapi.KubeContext, len(list))
	for i, c := range list {
		out[i] = localapi.KubeContext{Name: c.Name, Cluster: c.Cluster, Namespace: c.Namespace, Current: c.Current}
	}
	return out, nil
}

func (d *daemon) Namespaces(ctx context.Context, ref localapi.ClusterRef) ([]localapi.Namespace, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	cl, err := d.cluster(ref)
	if err != nil {
		return nil, false, err
	}
	list, err := cl.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: localapi.MaxListItems})
	if err != nil {
		return nil, false, listError(ctx, cl, "namespaces", "", "the namespace", err)
	}
	items := list.Items[:min(len(list.Items), localapi.MaxListItems)]
	out := make([]localapi.Namespace, len(items))
	for i, ns := range items {
		out[i] = localapi.Namespace{Name: ns.Name, Phase: string(ns.Status.Phase)}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, truncated(list.ListMeta, len(list.Items)), nil
}

func (d *daemon) Services(ctx context.Context, ref localapi.ClusterRef, namespace string) ([]localapi.Service, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	cl, err := d.cluster(ref)
	if err != nil {
		return nil, false, err
	}
	list, err := cl.Client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{Limit: localapi.MaxListItems})
	if err != nil {
		return nil, false, listError(ctx, cl, "services", namespace, "the service name and port", err)
	}
	items := list.Items[:min(len(list.Items), localapi.MaxListItems)]
	out := make([]localapi.Service, len(items))
	for i, svc := range items {
		s := localapi.Service{Name: svc.Name, Namespace: svc.Namespace, Type: string(svc.Spec.Type),
			Headless: svc.Spec.ClusterIP == corev1.ClusterIPNone, Ports: []localapi.ServicePort{}}
		if s.Type == "" {
			s.Type = string(corev1.ServiceTypeClusterIP)
		}
		for _, p := range svc.Spec.Ports {
			sp := localapi.ServicePort{Name: p.Name, Port: p.Port, Protocol: protocol(p.Protocol)}
			if p.TargetPort.Type == intstr.String || p.TargetPort.IntVal != 0 {
				sp.TargetPort = p.TargetPort.String()
			}
			s.Ports = append(s.Ports, sp)
		}
		out[i] = s
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, truncated(list.ListMeta, len(list.Items)), nil
}

func (d *daemon) Pods(ctx context.Context, ref localapi.ClusterRef, namespace, selector string) ([]localapi.Pod, bool, error) {
	if _, err := labels.Parse(selector); err != nil {
		return nil, false, httpapi.WithStatus(http.StatusBadRequest, fmt.Errorf("selector %q is not a label selector (app=web, tier in (a,b)): %w", selector, err))
	}
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	cl, err := d.cluster(ref)
	if err != nil {
		return nil, false, err
	}
	list, err := cl.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: localapi.MaxListItems})
	if err != nil {
		return nil, false, listError(ctx, cl, "pods", namespace, "the label selector and port", err)
	}
	items := list.Items[:min(len(list.Items), localapi.MaxListItems)]
	out := make([]localapi.Pod, len(items))
	for i := range items {
		p := &items[i]
		lp := localapi.Pod{Name: p.Name, Phase: string(p.Status.Phase), Labels: p.Labels, Ports: []localapi.PodPort{}}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				lp.Ready = c.Status == corev1.ConditionTrue
			}
		}
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				lp.Ports = append(lp.Ports, localapi.PodPort{Name: cp.Name, Port: cp.ContainerPort, Protocol: protocol(cp.Protocol)})
			}
		}
		out[i] = lp
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, truncated(list.ListMeta, len(list.Items)), nil
}

// protocol is a port's protocol, TCP when unset (the API's default).
func protocol(p corev1.Protocol) string {
	if p == "" {
		return string(corev1.ProtocolTCP)
	}
	return string(p)
}
