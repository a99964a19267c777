// Package target resolves what a forward points at (a Service or a pod label
// selector, and a port) to one ready pod and a container port, and follows
// the cluster's changes through shared watches.
//
// Service ports map as kube-proxy maps them: the configured port is a
// Service port (number or name); its targetPort is a number or a name
// resolved against the chosen pod's container ports. As kftray does, a
// number that matches no Service port is used as the container port itself.
// The pod choice is sticky: a forward stays on its pod while that pod is a
// ready endpoint, and moves to another ready one as soon as it is not.
package target

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
)

// Kind is what a Spec points at.
type Kind string

const (
	Service Kind = "service"
	Pod     Kind = "pod"
)

// Spec is what a forward asks for.
type Spec struct {
	Kind      Kind
	Namespace string
	Name      string             // Service name (Kind Service)
	Selector  string             // pod label selector (Kind Pod)
	Port      intstr.IntOrString // Service port (Kind Service) or container port (Kind Pod)
}

func (s Spec) String() string {
	if s.Kind == Pod {
		return fmt.Sprintf("pods %q in %s port %s", s.Selector, s.Namespace, s.Port.String())
	}
	return fmt.Sprintf("service %s/%s port %s", s.Namespace, s.Name, s.Port.String())
}

// Target is a resolved endpoint: a ready pod and its container port.
type Target struct {
	Pod  string
	Port int
	// Note says how the port was found when that is worth telling the user
	// (the kftray compatibility rule).
	Note string
}

var (
	// ErrNotSynced means the watches have not delivered their first list.
	ErrNotSynced = errors.New("waiting for the first list from the API server")
	// ErrNoReadyPod means the target exists but no pod is ready right now.
	ErrNoReadyPod = errors.New("no ready pod")
)

// Resolver follows one Spec. Current is cheap; Changed says when to look again.
type Resolver struct {
	spec     Spec
	inf      *Informers
	selector labels.Selector

	sources []source // fixed after NewResolver

	mu      sync.Mutex
	regs    []cache.ResourceEventHandlerRegistration // parallel to sources
	avoid   map[string]time.Time                     // pods that refused streams, until when
	current Target
	err     error
	changed chan struct{}
}

type source struct {
	resource string
	inf      cache.SharedIndexInformer
}

// NewResolver starts following spec with the shared watches inf.
func NewResolver(inf *Informers, spec Spec) (*Resolver, error) {
	r := &Resolver{spec: spec, inf: inf, changed: make(chan struct{}), err: ErrNotSynced}
	switch spec.Kind {
	case Service:
		if spec.Name == "" {
			return nil, fmt.Errorf("service forward in namespace %q has no service name", spec.Namespace)
		}
		r.sources = []source{
			{resource: "services", inf: inf.services()},
			{resource: "endpointslices", inf: inf.endpointSlices()},
		}
	case Pod:
		sel, err := labels.Parse(spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("pod forward: invalid label selector %q in target: %w", spec.Selector, err)
		}
		if sel.Empty() {
			return nil, fmt.Errorf("pod forward in namespace %q needs a label selector in target (for example app=web)", spec.Namespace)
		}
		r.selector = sel
		r.sources = []source{{resource: "pods", inf: inf.pods()}}
	default:
		return nil, fmt.Errorf("unknown target kind %q", spec.Kind)
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { r.update() },
		UpdateFunc: func(any, any) { r.update() },
		DeleteFunc: func(any) { r.update() },
	}
	for _, s := range r.sources {
		reg, err := s.inf.AddEventHandler(h)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("watch %s: %w", s.resource, err)
		}
		r.mu.Lock()
		r.regs = append(r.regs, reg)
		r.mu.Unlock()
	}
	r.update()
	return r, nil
}

// Close stops following.
func (r *Resolver) Close() {
	r.mu.Lock()
	regs := r.regs
	r.regs = nil
	r.mu.Unlock()
	for i, reg := range regs {
		_ = r.sources[i].inf.RemoveEventHandler(reg)
	}
}

// Current returns the chosen target, or why there is none.
func (r *Resolver) Current() (Target, error) {
	r.update() // cheap, and surfaces watch errors that fire no event
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current, r.err
}

// Avoid takes pod out of the choice for a while (30 s, or until it leaves
// the endpoints) if another ready pod exists: its kubelet refused a stream
// (the pod is terminating or gone) before the watch said so. New
// connections move at once.
func (r *Resolver) Avoid(pod string) {
	r.mu.Lock()
	if r.avoid == nil {
		r.avoid = map[string]time.Time{}
	}
	r.avoid[pod] = time.Now().Add(30 * time.Second)
	r.mu.Unlock()
	r.update()
}

// Changed is closed when the target or error changes.
func (r *Resolver) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

func (r *Resolver) update() {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, err := r.resolve(r.current.Pod)
	if err != nil {
		t = Target{}
	}
	if t == r.current && sameErr(err, r.err) {
		return
	}
	r.current, r.err = t, err
	close(r.changed)
	r.changed = make(chan struct{})
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

func (r *Resolver) resolve(sticky string) (Target, error) {
	for _, s := range r.sources {
		if err := r.inf.syncErr(s.resource, s.inf); err != nil {
			return Target{}, fmt.Errorf("%s: %w", r.spec, err)
		}
	}
	if r.spec.Kind == Pod {
		return r.resolvePod(sticky)
	}
	return r.resolveService(sticky)
}

func (r *Resolver) getPod(name string) *corev1.Pod {
	obj, ok, _ := r.inf.pods().GetIndexer().GetByKey(r.spec.Namespace + "/" + name)
	if !ok {
		return nil
	}
	return obj.(*corev1.Pod)
}

func (r *Resolver) resolveService(sticky string) (Target, error) {
	ns, name := r.spec.Namespace, r.spec.Name
	obj, ok, _ := r.inf.services().GetIndexer().GetByKey(ns + "/" + name)
	if !ok {
		return Target{}, fmt.Errorf("service %s/%s not found; check the service name and namespace", ns, name)
	}
	svc := obj.(*corev1.Service)
	if len(svc.Spec.Selector) == 0 {
		return Target{}, fmt.Errorf("service %s/%s has no pod selector (ExternalName or manually managed endpoints); forward to a pod instead (workload_type pod with a label selector)", ns, name)
	}
	sp, note, err := servicePort(svc, r.spec.Port)
	if err != nil {
		return Target{}, err
	}

	// Ready endpoints, with the port number the EndpointSlice controller
	// resolved for their slice.
	ready := map[string]int{}
	for _, o := range r.inf.endpointSlices().GetIndexer().List() {
		es := o.(*discoveryv1.EndpointSlice)
		if es.Namespace != ns || es.Labels[discoveryv1.LabelServiceName] != name {
			continue
		}
		slicePort := 0
		for _, p := range es.Ports {
			if p.Port != nil && p.Name != nil && sp != nil && *p.Name == sp.Name {
				slicePort = int(*p.Port)
			}
		}
		for _, ep := range es.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			ready[ep.TargetRef.Name] = slicePort
		}
	}
	pod := r.choose(ready, sticky)
	if pod == "" {
		return Target{}, fmt.Errorf("service %s/%s: %w (no ready endpoint in its EndpointSlices)", ns, name, ErrNoReadyPod)
	}
	if sp == nil {
		// kftray rule: the number is the container port.
		return Target{Pod: pod, Port: r.spec.Port.IntValue(), Note: note}, nil
	}
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return Target{Pod: pod, Port: int(tp.IntVal), Note: note}, nil
	case tp.Type == intstr.Int: // unset targetPort defaults to the port
		return Target{Pod: pod, Port: int(sp.Port), Note: note}, nil
	}
	// Named targetPort: the chosen pod's container port of that name. Pods
	// are watched only for this (the slice's port is the fallback), so a
	// user without pod list rights can still forward numeric targetPorts.
	if pods := r.inf.pods(); pods.HasSynced() {
		p := r.getPod(pod)
		if p == nil {
			return Target{}, fmt.Errorf("service %s/%s: endpoint pod %s not found", ns, name, pod)
		}
		n, err := namedPort(p, tp.StrVal, corev1.Protocol(sp.Protocol))
		if err != nil {
			return Target{}, fmt.Errorf("service %s/%s port %d: %w", ns, name, sp.Port, err)
		}
		return Target{Pod: pod, Port: n, Note: note}, nil
	}
	if port := ready[pod]; port != 0 {
		return Target{Pod: pod, Port: port, Note: note}, nil
	}
	return Target{}, fmt.Errorf("service %s/%s: pod %s for named targetPort %q: %w", ns, name, pod, tp.StrVal, ErrNotSynced)
}

// servicePort finds the Service port the config means.
func servicePort(svc *corev1.Service, want intstr.IntOrString) (*corev1.ServicePort, string, error) {
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if (want.Type == intstr.Int && p.Port == want.IntVal) || (want.Type == intstr.String && p.Name == want.StrVal) {
			return p, "", nil
		}
	}
	var have []string
	for _, p := range svc.Spec.Ports {
		have = append(have, fmt.Sprintf("%s/%d", p.Name, p.Port))
	}
	if want.Type == intstr.Int && want.IntVal > 0 {
		return nil, fmt.Sprintf("port %d is not a port of service %s/%s (ports: %v); used as the pod's container port, as kftray does",
			want.IntVal, svc.Namespace, svc.Name, have), nil
	}
	return nil, "", fmt.Errorf("service %s/%s has no TCP port %s (ports: %v); set remote_port to one of them",
		svc.Namespace, svc.Name, want.String(), have)
}

func namedPort(p *corev1.Pod, name string, proto corev1.Protocol) (int, error) {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	var have []string
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			pp := cp.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if cp.Name == name && pp == proto {
				return int(cp.ContainerPort), nil
			}
			if cp.Name != "" {
				have = append(have, fmt.Sprintf("%s=%d", cp.Name, cp.ContainerPort))
			}
		}
	}
	return 0, fmt.Errorf("port name %q not found in pod %s/%s (named container ports: %v)", name, p.Namespace, p.Name, have)
}

func (r *Resolver) resolvePod(sticky string) (Target, error) {
	ready := map[string]int{}
	for _, o := range r.inf.pods().GetIndexer().List() {
		p := o.(*corev1.Pod)
		if p.Namespace != r.spec.Namespace || !r.selector.Matches(labels.Set(p.Labels)) || !podReady(p) {
			continue
		}
		ready[p.Name] = 0
	}
	pod := r.choose(ready, sticky)
	if pod == "" {
		return Target{}, fmt.Errorf("%s: %w (no running, ready pod matches)", r.spec, ErrNoReadyPod)
	}
	if r.spec.Port.Type == intstr.Int {
		return Target{Pod: pod, Port: r.spec.Port.IntValue()}, nil
	}
	n, err := namedPort(r.getPod(pod), r.spec.Port.StrVal, corev1.ProtocolTCP)
	if err != nil {
		return Target{}, err
	}
	return Target{Pod: pod, Port: n}, nil
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// choose keeps sticky if it is still ready, else picks the first ready pod
// by name (deterministic, so restarts land on the same pod).
// choose is the package choose, passing over avoided pods while another
// ready pod exists: a lone pod that refused may be restarting its process,
// and is still the best bet.
func (r *Resolver) choose(ready map[string]int, sticky string) string {
	now := time.Now()
	others := map[string]int{}
	for pod, port := range ready {
		others[pod] = port
	}
	for pod, until := range r.avoid {
		_, listed := ready[pod]
		if !listed || now.After(until) {
			delete(r.avoid, pod)
			continue
		}
		delete(others, pod)
	}
	if len(others) > 0 {
		return choose(others, sticky)
	}
	return choose(ready, sticky)
}

func choose(ready map[string]int, sticky string) string {
	if _, ok := ready[sticky]; ok && sticky != "" {
		return sticky
	}
	names := make([]string, 0, len(ready))
	for n := range ready {
		names = append(names, n)
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[0]
}
