package relay

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/fwdconfig"
)

// This file is the relay's side of a relay forward (a config with protocol
// udp or workload_type proxy): which configs need a relay, what the relay
// must reach, and keeping it deployed while the forward runs. The engine
// side (a pod forward to the relay's pods, and for UDP the local socket and
// udprelay client) is forwarder/relayfwd.go: it builds and drives the
// engine's own Forward, so it lives in package forwarder, which imports
// this package (never the other way round).

// Options configure forwards that go through a kftray-server relay in the
// cluster (forwarder.Options.Relay).
type Options struct {
	// Owner labels every relay a manager deploys; default: this user,
	// this host and a random session per manager, so relays left by an
	// earlier daemon are told apart (Owner.Orphans).
	Owner Owner
	// Image of the relay; default manifest.DefaultImage() (this build's
	// version, never :latest).
	Image string
	// TemplateDir holds the user's relay-deployment.yaml.tmpl, if any (the
	// config directory); "" uses the built-in template.
	TemplateDir string
	// PodAnnotations go on every relay pod.
	PodAnnotations map[string]string
	// ReadyTimeout bounds waiting for the relay pod at start; default 90 s.
	ReadyTimeout time.Duration
	// CheckEvery is how often a running forward checks that its relay
	// Deployment still exists (and redeploys it); default 10 s.
	CheckEvery time.Duration
	// DeleteTimeout bounds deleting a relay when its forward stops or
	// fails to start; default 30 s. A relay left behind is logged and
	// found again by `kftray relay clean` and the daemon's sweep.
	DeleteTimeout time.Duration
}

// WithDefaults fills in what o leaves out; the owner session is random,
// so call it once per manager.
func (o Options) WithDefaults() Options {
	local := LocalOwner("")
	if o.Owner.User == "" {
		o.Owner.User = local.User
	}
	if o.Owner.Host == "" {
		o.Owner.Host = local.Host
	}
	if o.Owner.Session == "" {
		o.Owner.Session = randomHex(4)
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 90 * time.Second
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = 10 * time.Second
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = 30 * time.Second
	}
	return o
}

// Port is the relay's port in its pod (LOCAL_PORT in the template).
const Port = 8080

// Needed reports whether cfg is forwarded through a relay.
func Needed(cfg fwdconfig.Config) bool {
	return strings.EqualFold(cfg.Protocol, "udp") || strings.EqualFold(cfg.WorkloadType, "proxy")
}

// SpecFor says what the relay for cfg must reach: for a UDP service, the
// Service's cluster DNS name and port (kube-proxy routes it to a ready
// endpoint); for proxy, remote_address and remote_port. For a pod
// workload RemoteAddress stays empty: the relay reaches the pod by IP,
// known once a ready pod is picked (ReadyPodIP).
func SpecFor(cfg fwdconfig.Config) (Spec, error) {
	name := cfg.Alias
	if name == "" {
		name = "config " + strconv.FormatInt(cfg.ID, 10)
	}
	mode := strings.ToLower(cfg.Protocol)
	if mode == "" {
		mode = "tcp"
	}
	if mode != "tcp" && mode != "udp" {
		return Spec{}, fmt.Errorf("%s: protocol %q: use tcp or udp", name, cfg.Protocol)
	}
	if cfg.Namespace == "" {
		return Spec{}, fmt.Errorf("%s: namespace is empty; set the namespace the relay runs in", name)
	}
	if cfg.RemotePort <= 0 || cfg.RemotePort > 65535 {
		return Spec{}, fmt.Errorf("%s: remote_port %d is not a port", name, cfg.RemotePort)
	}
	s := Spec{ConfigID: cfg.ID, Namespace: cfg.Namespace, Mode: mode, RemotePort: cfg.RemotePort}
	switch strings.ToLower(cfg.WorkloadType) {
	case "proxy":
		if cfg.RemoteAddress == "" {
			return Spec{}, fmt.Errorf("%s: workload_type proxy needs remote_address (the host the cluster should reach)", name)
		}
		s.RemoteAddress = cfg.RemoteAddress
	case "", "service":
		if cfg.Service == "" {
			return Spec{}, fmt.Errorf("%s: workload_type service needs the service name", name)
		}
		s.RemoteAddress = cfg.Service + "." + cfg.Namespace + ".svc.cluster.local"
	case "pod":
		if cfg.Target == "" {
			return Spec{}, fmt.Errorf("%s: workload_type pod needs a label selector in target (for example app=dns)", name)
		}
		if _, err := labels.Parse(cfg.Target); err != nil {
			return Spec{}, fmt.Errorf("%s: invalid label selector %q in target: %w", name, cfg.Target, err)
		}
	default:
		return Spec{}, fmt.Errorf("%s: workload_type %q cannot go through the relay; use service, pod or proxy", name, cfg.WorkloadType)
	}
	return s, nil
}

// ReadyPodIP picks a ready pod matching selector and returns its name and
// IP: the relay's remote for a UDP forward to a pod workload.
func ReadyPodIP(ctx context.Context, c kubernetes.Interface, host, ns, selector string) (string, string, error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", "", kube.Explain(host, kube.Op{Verb: "list", Resource: "pods", Namespace: ns}, err)
	}
	if p := firstReady(pods.Items); p != nil {
		return p.Name, p.Status.PodIP, nil
	}
	return "", "", fmt.Errorf("no ready pod matches %q in namespace %s", selector, ns)
}

// firstReady is the first pod that can be the relay's remote: ready, not
// being deleted, with an IP; nil when none is.
func firstReady(pods []corev1.Pod) *corev1.Pod {
	for i := range pods {
		if p := &pods[i]; p.DeletionTimestamp == nil && p.Status.PodIP != "" && isReady(p) {
			return p
		}
	}
	return nil
}

// Keeper keeps one forward's relay deployed while the forward runs, and
// deletes it when the forward stops.
type Keeper struct {
	d           *Deployer
	r           *Relay
	spec        Spec
	podSelector string // workload pod: the relay targets a ready pod's IP, re-picked when it goes
	every       time.Duration
	// DeleteTimeout bounds Delete; 0 is 30 s.
	DeleteTimeout time.Duration

	stopOnce sync.Once
	done     chan struct{}
}

// NewKeeper returns a keeper of r, deployed by d from spec, checking every
// so often. podSelector is the config's target for a pod workload (the
// relay follows a ready pod's IP), else "".
func NewKeeper(d *Deployer, r *Relay, spec Spec, podSelector string, every time.Duration) *Keeper {
	return &Keeper{d: d, r: r, spec: spec, podSelector: podSelector, every: every, done: make(chan struct{})}
}

// Run redeploys the relay if its Deployment disappears while the forward
// runs (deleted by hand, namespace cleanup), until Stop: the engine alone
// would wait forever for pods that no controller makes any more. Polling is
// enough: it runs once per forward every few seconds.
func (k *Keeper) Run() {
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		select {
		case <-k.done:
			return
		case <-t.C:
		}
		k.check()
	}
}

// check runs one round of Run.
func (k *Keeper) check() {
	ctx, cancel := context.WithTimeout(context.Background(), max(k.every, 10*time.Second))
	defer cancel()
	ok, err := k.d.Exists(ctx, k.r)
	redeploy := err == nil && !ok
	if redeploy {
		k.d.Log.Warn().Str("relay", k.r.Namespace+"/"+k.r.Name).Msg("relay Deployment is gone; deploying it again")
	}
	if err == nil && k.podSelector != "" {
		// A pod's IP dies with it: follow a ready pod, updating the relay
		// (a rolling update the pod forward follows).
		if ip := k.newTarget(ctx); ip != "" {
			k.d.Log.Info().Str("from", k.spec.RemoteAddress).Str("to", ip).Msg("relay target pod changed; updating the relay")
			k.spec.RemoteAddress, redeploy = ip, true
		}
	}
	if redeploy {
		_, err = k.d.Deploy(ctx, k.spec)
	}
	if err != nil {
		k.d.Log.Info().Err(err).Msg("checking the relay Deployment")
	}
}

// newTarget lists the selector's pods once and returns a ready pod's IP
// when the pod the relay targets (by IP) is no longer ready; "" keeps the
// target (it is still ready, no other pod is, or the list failed: keep
// what works).
func (k *Keeper) newTarget(ctx context.Context) string {
	pods, err := k.d.Client.CoreV1().Pods(k.r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: k.podSelector})
	if err != nil {
		return ""
	}
	next := firstReady(pods.Items)
	if next == nil || next.Status.PodIP == k.spec.RemoteAddress {
		return ""
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Status.PodIP == k.spec.RemoteAddress && p.DeletionTimestamp == nil && isReady(p) {
			return ""
		}
	}
	return next.Status.PodIP
}

// Stop ends Run. It may be called more than once.
func (k *Keeper) Stop() { k.stopOnce.Do(func() { close(k.done) }) }

// Delete deletes the relay (after Stop, once the forward no longer uses it),
// logging a failure: `kftray relay clean` finds what is left.
func (k *Keeper) Delete() { k.d.DeleteWithin(k.r, k.DeleteTimeout) }

// DeleteWithin deletes r, waiting at most timeout (default 30 s: an API
// server that does not answer must not hold up a stop or a failed start),
// and logs a failure: the relay is then left for `kftray relay clean` and
// the daemon's sweep.
func (d *Deployer) DeleteWithin(r *Relay, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := d.Delete(ctx, r); err != nil {
		d.Log.Warn().Err(err).Str("relay", r.Namespace+"/"+r.Name).Msg("could not delete the relay; `kftray relay clean` will find it")
	}
}
