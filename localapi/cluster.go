package localapi

import (
	"context"
	"net/http"
	"net/url"
)

// MaxListItems caps the cluster listings (namespaces, services, pods): a
// longer list comes back cut, with truncated set.
const MaxListItems = 2000

// TruncatedHeader is set (to the cap) on a cluster listing that was cut at
// MaxListItems.
const TruncatedHeader = "Kftray-Truncated"

// ClusterRef names a cluster as a config does.
type ClusterRef struct {
	// Kubeconfig is the kubeconfig path list (as in KUBECONFIG: paths
	// joined by the OS list separator) the caller means; "" is the
	// daemon's default ($KUBECONFIG as the daemon saw it at its start,
	// else ~/.kube/config). Send your own to be sure.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context is a context of that kubeconfig; "" is its current context.
	Context string `json:"context,omitempty"`
}

func (r ClusterRef) query() url.Values {
	q := url.Values{}
	if r.Kubeconfig != "" {
		q.Set("kubeconfig", r.Kubeconfig)
	}
	if r.Context != "" {
		q.Set("context", r.Context)
	}
	return q
}

// KubeContext is one context of a kubeconfig.
type KubeContext struct {
	Name      string `json:"name"`
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace,omitempty"` // the context's default namespace
	Current   bool   `json:"current"`
}

// Namespace is one namespace of a cluster.
type Namespace struct {
	Name  string `json:"name"`
	Phase string `json:"phase,omitempty"` // Active | Terminating
}

// Service is one Service with its ports.
type Service struct {
	Name      string        `json:"name"`
	Namespace string        `json:"namespace"`
	Type      string        `json:"type"`     // ClusterIP | NodePort | LoadBalancer | ExternalName
	Headless  bool          `json:"headless"` // clusterIP None
	Ports     []ServicePort `json:"ports"`
}

// ServicePort is one port of a Service. A config's remote_port is Port.
type ServicePort struct {
	Name       string `json:"name,omitempty"`
	Port       int32  `json:"port"`
	TargetPort string `json:"target_port,omitempty"` // a number or a container port's name
	Protocol   string `json:"protocol"`              // TCP | UDP | SCTP
}

// Pod is one pod with its readiness, labels and declared ports.
type Pod struct {
	Name   string            `json:"name"`
	Ready  bool              `json:"ready"`
	Phase  string            `json:"phase"` // Pending | Running | Succeeded | Failed | Unknown
	Labels map[string]string `json:"labels,omitempty"`
	Ports  []PodPort         `json:"ports"`
}

// PodPort is a port a pod's containers declare.
type PodPort struct {
	Name     string `json:"name,omitempty"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
}

// Contexts lists the contexts of a kubeconfig path list ("" the daemon's
// default), for a context picker.
func (c *Client) Contexts(ctx context.Context, kubeconfig string) ([]KubeContext, error) {
	var out []KubeContext
	q := ClusterRef{Kubeconfig: kubeconfig}.query()
	return out, c.doReq(ctx, request{method: http.MethodGet, path: "/cluster/contexts", query: q}, &out)
}

// Namespaces lists the cluster's namespaces, at most MaxListItems
// (truncated says the list was cut). When RBAC forbids the listing the
// error is a *StatusError with code 403 saying so: let the user type the
// name instead. An unreachable cluster is 502.
func (c *Client) Namespaces(ctx context.Context, ref ClusterRef) ([]Namespace, bool, error) {
	var out []Namespace
	t, err := c.list(ctx, "/cluster/namespaces", ref.query(), &out)
	return out, t, err
}

// Services lists the Services of a namespace with their ports, as
// Namespaces does.
func (c *Client) Services(ctx context.Context, ref ClusterRef, namespace string) ([]Service, bool, error) {
	q := ref.query()
	q.Set("namespace", namespace)
	var out []Service
	t, err := c.list(ctx, "/cluster/services", q, &out)
	return out, t, err
}

// Pods lists the pods of a namespace that match a label selector ("" for
// all), as Namespaces does.
func (c *Client) Pods(ctx context.Context, ref ClusterRef, namespace, selector string) ([]Pod, bool, error) {
	q := ref.query()
	q.Set("namespace", namespace)
	if selector != "" {
		q.Set("selector", selector)
	}
	var out []Pod
	t, err := c.list(ctx, "/cluster/pods", q, &out)
	return out, t, err
}

func (c *Client) list(ctx context.Context, path string, q url.Values, out any) (bool, error) {
	r := request{method: http.MethodGet, path: path, query: q}
	resp, err := c.sendReq(ctx, r)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	return resp.Header.Get(TruncatedHeader) != "", c.decode(resp, r, out)
}
