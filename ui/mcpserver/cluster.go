package mcpserver

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kftray-go/kftray/localapi"
)

// Cluster names a cluster as a config does.
type Cluster struct {
	Kubeconfig string `json:"kubeconfig,omitempty" jsonschema:"kubeconfig path list (as in KUBECONFIG); leave out for the daemon's default ($KUBECONFIG as the daemon saw it, else ~/.kube/config)"`
	Context    string `json:"context,omitempty" jsonschema:"kubeconfig context (see list_kube_contexts); leave out for the current context"`
}

// ref is the cluster a tool names: with no kubeconfig, the one the client
// means (Options.Kube), else the daemon's default.
func (s *server) ref(c Cluster) localapi.ClusterRef {
	return localapi.ClusterRef{Kubeconfig: s.kubeconfig(c.Kubeconfig), Context: c.Context}
}

func (s *server) kubeconfig(named string) string {
	if named == "" && s.opts.Kube != nil {
		if env := s.opts.Kube(); env != nil {
			return env.Kubeconfig
		}
	}
	return named
}

type listContextsIn struct {
	Kubeconfig string `json:"kubeconfig,omitempty" jsonschema:"kubeconfig path list (as in KUBECONFIG); leave out for the daemon's default"`
	Page
}

type listContextsOut struct {
	Contexts []localapi.KubeContext `json:"contexts" jsonschema:"the contexts, by name; current marks the kubeconfig's current one"`
	Listed
}

type listNamespacesIn struct {
	Cluster
	Page
}

type listNamespacesOut struct {
	Namespaces []localapi.Namespace `json:"namespaces"`
	Listed
}

type listServicesIn struct {
	Cluster
	Namespace    string `json:"namespace" jsonschema:"the namespace to list (see list_namespaces)"`
	NameContains string `json:"name_contains,omitempty" jsonschema:"only Services whose name contains this text"`
	Page
}

type listServicesOut struct {
	Services []localapi.Service `json:"services" jsonschema:"Services with their ports; a config's remote_port is a port's port"`
	Listed
}

type listPodsIn struct {
	Cluster
	Namespace     string `json:"namespace" jsonschema:"the namespace to list (see list_namespaces)"`
	LabelSelector string `json:"label_selector,omitempty" jsonschema:"only pods matching this label selector, e.g. app=web"`
	Page
}

type listPodsOut struct {
	Pods []localapi.Pod `json:"pods" jsonschema:"pods with readiness, labels and the ports their containers declare"`
	Listed
}

type listPortsIn struct {
	Cluster
	Namespace     string `json:"namespace" jsonschema:"the namespace of the Service or pods"`
	Service       string `json:"service,omitempty" jsonschema:"a Service's name: list its ports (give this or label_selector)"`
	LabelSelector string `json:"label_selector,omitempty" jsonschema:"a pod label selector: list the ports the matching pods declare (give this or service)"`
}

// Port is a port to forward to.
type Port struct {
	Name       string `json:"name,omitempty"`
	Port       int32  `json:"port" jsonschema:"the port to use as a config's remote_port"`
	TargetPort string `json:"target_port,omitempty" jsonschema:"for a Service: the pods' port it maps to (a number or a port name)"`
	Protocol   string `json:"protocol" jsonschema:"TCP, UDP or SCTP"`
}

type listPortsOut struct {
	Of    string `json:"of" jsonschema:"what the ports belong to"`
	Ports []Port `json:"ports"`
}

func (s *server) clusterTools() {
	add(s, &mcp.Tool{Name: "list_kube_contexts",
		Description: "List the contexts of a kubeconfig (the daemon's default kubeconfig when none is given), marking the current one.",
		Annotations: readOnly("List kubeconfig contexts", false)},
		func(ctx context.Context, c *localapi.Client, in listContextsIn) (listContextsOut, error) {
			list, err := c.Contexts(ctx, s.kubeconfig(in.Kubeconfig))
			if err != nil {
				return listContextsOut{}, err
			}
			var out listContextsOut
			out.Contexts, out.Listed, err = page(list, in.Page)
			return out, err
		})

	add(s, &mcp.Tool{Name: "list_namespaces",
		Description: "List the namespaces of a cluster. When RBAC forbids listing, the error says so: ask the user for the namespace name instead.",
		Annotations: readOnly("List namespaces", true)},
		func(ctx context.Context, c *localapi.Client, in listNamespacesIn) (listNamespacesOut, error) {
			list, cut, err := c.Namespaces(ctx, s.ref(in.Cluster))
			if err != nil {
				return listNamespacesOut{}, err
			}
			var out listNamespacesOut
			out.Namespaces, out.Listed, err = page(list, in.Page)
			out.Truncated = cut
			return out, err
		})

	add(s, &mcp.Tool{Name: "list_services",
		Description: "List the Services of a namespace with their ports (name, port, target port, protocol). A config of workload_type service forwards to one of these ports (remote_port).",
		Annotations: readOnly("List services with ports", true)},
		func(ctx context.Context, c *localapi.Client, in listServicesIn) (listServicesOut, error) {
			if err := needNamespace(in.Namespace); err != nil {
				return listServicesOut{}, err
			}
			list, cut, err := c.Services(ctx, s.ref(in.Cluster), in.Namespace)
			if err != nil {
				return listServicesOut{}, err
			}
			if in.NameContains != "" {
				var keep []localapi.Service
				for _, sv := range list {
					if strings.Contains(sv.Name, in.NameContains) {
						keep = append(keep, sv)
					}
				}
				list = keep
			}
			var out listServicesOut
			out.Services, out.Listed, err = page(list, in.Page)
			out.Truncated = cut
			return out, err
		})

	add(s, &mcp.Tool{Name: "list_pods",
		Description: "List the pods of a namespace (optionally those matching a label selector) with readiness, phase, labels and declared ports. A config of workload_type pod forwards to a ready pod matching its label selector (target).",
		Annotations: readOnly("List pods", true)},
		func(ctx context.Context, c *localapi.Client, in listPodsIn) (listPodsOut, error) {
			if err := needNamespace(in.Namespace); err != nil {
				return listPodsOut{}, err
			}
			list, cut, err := c.Pods(ctx, s.ref(in.Cluster), in.Namespace, in.LabelSelector)
			if err != nil {
				return listPodsOut{}, err
			}
			var out listPodsOut
			out.Pods, out.Listed, err = page(list, in.Page)
			out.Truncated = cut
			return out, err
		})

	add(s, &mcp.Tool{Name: "list_ports",
		Description: "List the ports of one Service (by name), or the ports declared by the pods matching a label selector: the values a config's remote_port can take.",
		Annotations: readOnly("List ports of a service or pods", true)},
		func(ctx context.Context, c *localapi.Client, in listPortsIn) (listPortsOut, error) {
			if err := needNamespace(in.Namespace); err != nil {
				return listPortsOut{}, err
			}
			if (in.Service == "") == (in.LabelSelector == "") {
				return listPortsOut{}, fmt.Errorf("give service (a Service's name) or label_selector (e.g. app=web), one of the two")
			}
			if in.Service != "" {
				return servicePorts(ctx, c, s.ref(in.Cluster), in)
			}
			return podPorts(ctx, c, s.ref(in.Cluster), in)
		})
}

func needNamespace(ns string) error {
	if strings.TrimSpace(ns) == "" {
		return fmt.Errorf("namespace is required; list_namespaces lists them")
	}
	return nil
}

func servicePorts(ctx context.Context, c *localapi.Client, ref localapi.ClusterRef, in listPortsIn) (listPortsOut, error) {
	list, _, err := c.Services(ctx, ref, in.Namespace)
	if err != nil {
		return listPortsOut{}, err
	}
	for _, sv := range list {
		if sv.Name != in.Service {
			continue
		}
		out := listPortsOut{Of: fmt.Sprintf("Service %s/%s (%s)", sv.Namespace, sv.Name, sv.Type), Ports: []Port{}}
		for _, p := range sv.Ports {
			out.Ports = append(out.Ports, Port{Name: p.Name, Port: p.Port, TargetPort: p.TargetPort, Protocol: p.Protocol})
		}
		return out, nil
	}
	return listPortsOut{}, fmt.Errorf("no Service %q in namespace %q; list_services lists them (or give label_selector to list the ports of pods)", in.Service, in.Namespace)
}

func podPorts(ctx context.Context, c *localapi.Client, ref localapi.ClusterRef, in listPortsIn) (listPortsOut, error) {
	pods, _, err := c.Pods(ctx, ref, in.Namespace, in.LabelSelector)
	if err != nil {
		return listPortsOut{}, err
	}
	if len(pods) == 0 {
		return listPortsOut{}, fmt.Errorf("no pod in namespace %q matches %q; list_pods shows the pods and their labels", in.Namespace, in.LabelSelector)
	}
	seen := map[Port]bool{}
	out := listPortsOut{Of: fmt.Sprintf("%d pod(s) in %s matching %s", len(pods), in.Namespace, in.LabelSelector), Ports: []Port{}}
	for _, p := range pods {
		for _, pp := range p.Ports {
			port := Port{Name: pp.Name, Port: pp.Port, Protocol: pp.Protocol}
			if !seen[port] {
				seen[port] = true
				out.Ports = append(out.Ports, port)
			}
		}
	}
	sort.Slice(out.Ports, func(i, j int) bool { return out.Ports[i].Port < out.Ports[j].Port })
	return out, nil
}
