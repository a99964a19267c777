package forwarder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/forwarder/target"
	"github.com/kftray-go/kftray/forwarder/udprelay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

// RelayOptions configure forwards that go through a kftray-server relay in
// the cluster (protocol udp, workload_type proxy).
type RelayOptions struct {
	// Owner labels every relay this manager deploys; default: this user,
	// this host and a random session per Manager, so relays left by an
	// earlier daemon are told apart (relay.Owner.Orphans).
	Owner relay.Owner
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
	// DeleteTimeout bounds deleting a relay when its forward stops or
	// fails to start; default 30 s. A relay left behind is logged and
	// found again by `kftray relay clean` and the daemon's sweep.
	DeleteTimeout time.Duration
	// CheckEvery is how often a running forward checks that its relay
	// Deployment still exists (and redeploys it); default 10 s.
	CheckEvery time.Duration
}

func (o RelayOptions) withDefaults() RelayOptions {
	local := relay.LocalOwner("")
	if o.Owner.User == "" {
		o.Owner.User = local.User
	}
	if o.Owner.Host == "" {
		o.Owner.Host = local.Host
	}
	if o.Owner.Session == "" {
		b := make([]byte, 4)
		rand.Read(b)
		o.Owner.Session = hex.EncodeToString(b)
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

// relayPort is the relay's port in its pod (LOCAL_PORT in the template).
const relayPort = 8080

// NeedsRelay reports whether cfg is forwarded through a relay.
func NeedsRelay(cfg fwdconfig.Config) bool {
	return strings.EqualFold(cfg.Protocol, "udp") || strings.EqualFold(cfg.WorkloadType, "proxy")
}

// RelaySpec says what the relay for cfg must reach: for a UDP service, the
// Service's cluster DNS name and port (kube-proxy routes it to a ready
// endpoint); for proxy, remote_address and remote_port.
func RelaySpec(cfg fwdconfig.Config) (relay.Spec, error) {
	name := cfg.Alias
	if name == "" {
		name = "config " + strconv.FormatInt(cfg.ID, 10)
	}
	mode := strings.ToLower(cfg.Protocol)
	if mode == "" {
		mode = "tcp"
	}
	if mode != "tcp" && mode != "udp" {
		return relay.Spec{}, fmt.Errorf("%s: protocol %q: use tcp or udp", name, cfg.Protocol)
	}
	if cfg.Namespace == "" {
		return relay.Spec{}, fmt.Errorf("%s: namespace is empty; set the namespace the relay runs in", name)
	}
	if cfg.RemotePort <= 0 || cfg.RemotePort > 65535 {
		return relay.Spec{}, fmt.Errorf("%s: remote_port %d is not a port", name, cfg.RemotePort)
	}
	s := relay.Spec{ConfigID: cfg.ID, Namespace: cfg.Namespace, Mode: mode, RemotePort: cfg.RemotePort}
	switch strings.ToLower(cfg.WorkloadType) {
	case "proxy":
		if cfg.RemoteAddress == "" {
			return relay.Spec{}, fmt.Errorf("%s: workload_type proxy needs remote_address (the host the cluster should reach)", name)
		}
		s.RemoteAddress = cfg.RemoteAddress
	case "", "service":
		if cfg.Service == "" {
			return relay.Spec{}, fmt.Errorf("%s: workload_type service needs the service name", name)
		}
		s.RemoteAddress = cfg.Service + "." + cfg.Namespace + ".svc.cluster.local"
	case "pod":
		if cfg.Target == "" {
			return relay.Spec{}, fmt.Errorf("%s: workload_type pod needs a label selector in target (for example app=dns)", name)
		}
		if _, err := labels.Parse(cfg.Target); err != nil {
			return relay.Spec{}, fmt.Errorf("%s: invalid label selector %q in target: %w", name, cfg.Target, err)
		}
		// The relay reaches the pod by IP, known once a ready pod is
		// picked (podIP); RemoteAddress stays empty until then.
	default:
		return relay.Spec{}, fmt.Errorf("%s: workload_type %q cannot go through the relay; use service, pod or proxy", name, cfg.WorkloadType)
	}
	return s, nil
}

// podIP picks a ready pod matching selector and returns its name and IP:
// the relay's remote for a UDP forward to a pod workload.
func podIP(ctx context.Context, c kubernetes.Interface, host, ns, selector string) (string, string, error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", "", kube.Explain(host, kube.Op{Verb: "list", Resource: "pods", Namespace: ns}, err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return p.Name, p.Status.PodIP, nil
			}
		}
	}
	return "", "", fmt.Errorf("no ready pod matches %q in namespace %s", selector, ns)
}

// relayOptions returns the manager's relay options, defaults (the owner
// session above all) fixed on first use.
func (m *Manager) relayOptions() RelayOptions {
	m.relayOnce.Do(func() { m.relayOpts = m.opts.Relay.withDefaults() })
	return m.relayOpts
}

// RelayOwner is how this manager labels its relays; relays with the same
// user and host but another session are orphans of an earlier daemon.
func (m *Manager) RelayOwner() relay.Owner { return m.relayOptions().Owner }

// startRelay starts a forward through a relay: deploy the relay, wait for
// its pod, then run an ordinary pod forward to the relay's pods (so pod
// replacement, reconnection and state are the engine's own). A UDP forward
// feeds that pod forward through an in-memory listener: each relay stream is
// one "connection" of it.
func (m *Manager) startRelay(ctx context.Context, cfg fwdconfig.Config) error {
	rs, err := RelaySpec(cfg)
	if err != nil {
		m.report(cfg, err)
		return err
	}
	ro := m.relayOptions()
	name := manifest.Name(cfg.ID, ro.Owner.Session)
	spec := target.Spec{Kind: target.Pod, Namespace: cfg.Namespace, Port: intstr.FromInt(relayPort),
		Selector: labels.Set{manifest.LabelName: manifest.AppName, manifest.LabelInstance: name}.String()}
	bind := BindRequest{ConfigID: cfg.ID, Network: rs.Mode, IP: cfg.LocalAddress, Port: cfg.LocalPort, AutoLoopback: cfg.AutoLoopbackAddress}
	if cfg.DomainEnabled && cfg.Alias != "" {
		bind.Hostnames = []string{cfg.Alias}
	}
	src := kube.Source{Kubeconfig: cfg.Kubeconfig, Context: cfg.Context}

	mf, ctx, ok := m.reserve(ctx, cfg.ID)
	if !ok {
		return nil
	}
	rf, fwd, ce, err := m.buildRelay(ctx, cfg, rs, spec, bind, src, ro)
	var onStop func()
	if rf != nil {
		onStop = rf.stop
	}
	return m.finish(cfg, mf, fwd, ce, spec.Namespace, onStop, err, true)
}

func (m *Manager) buildRelay(ctx context.Context, cfg fwdconfig.Config, rs relay.Spec, spec target.Spec, bind BindRequest, src kube.Source, ro RelayOptions) (*relayForward, *Forward, *clusterEntry, error) {
	fwd, ce, err := m.build(cfg, spec, bind, src)
	if err != nil {
		return nil, nil, nil, err
	}
	var podSel string
	if strings.EqualFold(cfg.WorkloadType, "pod") {
		podSel = cfg.Target
		pod, ip, err := podIP(ctx, fwd.cluster.Client, fwd.cluster.Config.Host, cfg.Namespace, podSel)
		if err != nil {
			return nil, fwd, ce, fmt.Errorf("%s: %w", fwd, err)
		}
		rs.RemoteAddress = ip
		m.opts.Logger.Info().Int64("forward", cfg.ID).Str("pod", pod).Str("ip", ip).Msg("relay targets pod")
	}
	d := &relay.Deployer{Client: fwd.cluster.Client, Host: fwd.cluster.Config.Host, Owner: ro.Owner,
		TemplateDir: ro.TemplateDir, Image: ro.Image, PodAnnotations: ro.PodAnnotations,
		Log: m.opts.Logger.With().Int64("forward", cfg.ID).Logger()}
	name := cfg.Alias
	if name == "" {
		name = fmt.Sprintf("config %d", cfg.ID)
	}
	name = fmt.Sprintf("%s (%s relay to %s:%d)", name, rs.Mode, rs.RemoteAddress, rs.RemotePort)
	r, err := d.Deploy(ctx, rs)
	if err != nil {
		return nil, fwd, ce, fmt.Errorf("%s: %w", name, err)
	}
	if r.Port != relayPort {
		deleteRelay(d, r, ro.DeleteTimeout)
		return nil, fwd, ce, fmt.Errorf("%s: the relay template sets the relay port to %d; keep it at %d", name, r.Port, relayPort)
	}
	rf := &relayForward{d: d, r: r, spec: rs, podSel: podSel, fwd: fwd, every: ro.CheckEvery, deleteTimeout: ro.DeleteTimeout, done: make(chan struct{})}
	fail := func(err error) (*relayForward, *Forward, *clusterEntry, error) {
		deleteRelay(d, r, ro.DeleteTimeout)
		return nil, fwd, ce, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := d.WaitReady(ctx, r, ro.ReadyTimeout); err != nil {
		return fail(err)
	}
	if rs.Mode == "udp" {
		if err := rf.startUDP(ctx, bind, m.opts); err != nil {
			return fail(err)
		}
	} else if err := fwd.start(ctx); err != nil {
		return fail(err)
	}
	go rf.keepDeployed()
	return rf, fwd, ce, nil
}

// relayForward is the relay part of a forward: the Deployment (kept
// deployed while the forward runs, deleted when it stops) and, for UDP, the
// local socket and its client.
type relayForward struct {
	d      *relay.Deployer
	r      *relay.Relay
	spec   relay.Spec
	podSel string // workload pod: the relay targets a ready pod's IP, re-picked when it goes
	fwd    *Forward
	every  time.Duration
	// deleteTimeout bounds deleting the relay at stop.
	deleteTimeout time.Duration

	stopOnce  sync.Once
	done      chan struct{}
	udpCancel context.CancelFunc
	udpDone   chan struct{}
	pc        net.PacketConn // the local UDP socket; closing it releases what the helper holds for it
}

// startUDP binds the local UDP socket and runs the relay client, whose
// streams are connections of the pod forward to the relay.
func (rf *relayForward) startUDP(ctx context.Context, bind BindRequest, opts Options) error {
	fwd := rf.fwd
	pc, err := listenUDP(ctx, fwd.opts.Binder, bind)
	if err != nil {
		return err
	}
	streams := newPipeListener(pc.LocalAddr())
	fwd.opts.Binder = streams // the pod forward's "listener" is the client's streams
	if err := fwd.start(ctx); err != nil {
		pc.Close()
		return err
	}
	fwd.setState(func(s *State) { s.Address = pc.LocalAddr().String() })
	cctx, cancel := context.WithCancel(context.Background())
	rf.udpCancel, rf.udpDone, rf.pc = cancel, make(chan struct{}), pc
	sock := pc
	if u, ok := pc.(unwrapper); ok {
		sock = u.Unwrap()
	}
	client := udprelay.New(sock, streams.dial, udprelay.Options{Logger: fwd.log, MaxBackoff: opts.Backoff.Max})
	go func() {
		defer close(rf.udpDone)
		client.Run(cctx)
	}()
	return nil
}

// listenUDP binds the forward's local UDP socket with b when it can bind
// packet sockets (the helper's binder does, for low ports, allocated
// loopback addresses and hostnames), else directly.
func listenUDP(ctx context.Context, b Binder, req BindRequest) (net.PacketConn, error) {
	pb, ok := b.(PacketBinder)
	if !ok {
		pb = DirectBinder{}
	}
	return pb.ListenPacket(ctx, req)
}

// unwrapper is a socket from the helper that releases its address and
// hosts lines on Close but hands out the *net.UDPConn inside, which the
// relay client's fast path wants.
type unwrapper interface{ Unwrap() net.PacketConn }

// keepDeployed redeploys the relay if its Deployment disappears while the
// forward runs (deleted by hand, namespace cleanup): the engine alone would
// wait forever for pods that no controller makes any more. Polling is
// enough: it runs once per forward every few seconds.
func (rf *relayForward) keepDeployed() {
	t := time.NewTicker(rf.every)
	defer t.Stop()
	for {
		select {
		case <-rf.done:
			return
		case <-t.C:
		}
		rf.check()
	}
}

// check runs one round of keepDeployed.
func (rf *relayForward) check() {
	ctx, cancel := context.WithTimeout(context.Background(), max(rf.every, 10*time.Second))
	defer cancel()
	ok, err := rf.d.Exists(ctx, rf.r)
	redeploy := err == nil && !ok
	if redeploy {
		rf.d.Log.Warn().Str("relay", rf.r.Namespace+"/"+rf.r.Name).Msg("relay Deployment is gone; deploying it again")
	}
	if err == nil && rf.podSel != "" {
		// A pod's IP dies with it: follow a ready pod, updating the relay
		// (a rolling update the pod forward follows).
		if _, ip, perr := podIP(ctx, rf.d.Client, rf.d.Host, rf.r.Namespace, rf.podSel); perr == nil && !rf.podReady(ctx, ip) {
			rf.d.Log.Info().Str("from", rf.spec.RemoteAddress).Str("to", ip).Msg("relay target pod changed; updating the relay")
			rf.spec.RemoteAddress, redeploy = ip, true
		}
	}
	if redeploy {
		_, err = rf.d.Deploy(ctx, rf.spec)
	}
	if err != nil {
		rf.d.Log.Info().Err(err).Msg("checking the relay Deployment")
	}
}

// podReady reports whether the pod the relay targets (by IP) is still a
// ready pod of the selector; newIP is a ready one, for when it is not.
func (rf *relayForward) podReady(ctx context.Context, newIP string) bool {
	if newIP == rf.spec.RemoteAddress {
		return true
	}
	pods, err := rf.d.Client.CoreV1().Pods(rf.r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: rf.podSel})
	if err != nil {
		return true // cannot tell: keep what works
	}
	for _, p := range pods.Items {
		if p.Status.PodIP != rf.spec.RemoteAddress || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
	}
	return false
}

// stop runs after the pod forward has stopped: end the UDP client, delete
// the relay.
func (rf *relayForward) stop() {
	rf.stopOnce.Do(func() {
		close(rf.done)
		if rf.udpCancel != nil {
			rf.udpCancel()
			<-rf.udpDone
			// The client closed the socket; this also gives back a
			// helper-allocated address and the hosts lines.
			if err := rf.pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				rf.d.Log.Warn().Err(err).Msg("releasing the UDP socket's address and hosts entries")
			}
		}
		deleteRelay(rf.d, rf.r, rf.deleteTimeout)
	})
}

// deleteRelay deletes r, waiting at most timeout (an API server that does
// not answer must not hold up a stop or a failed start), and logs a
// failure: the relay is then left for `kftray relay clean`.
func deleteRelay(d *relay.Deployer, r *relay.Relay, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := d.Delete(ctx, r); err != nil {
		d.Log.Warn().Err(err).Str("relay", r.Namespace+"/"+r.Name).Msg("could not delete the relay; `kftray relay clean` will find it")
	}
}

// pipeListener is an in-memory listener: dial hands one end of a net.Pipe
// to Accept. It is also the Binder of a UDP forward's pod forward.
type pipeListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener(addr net.Addr) *pipeListener {
	return &pipeListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Listen implements Binder: the listener is already made.
func (l *pipeListener) Listen(context.Context, BindRequest) (net.Listener, error) { return l, nil }

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

// dial is the udprelay.OpenStream: a new connection of the pod forward.
func (l *pipeListener) dial(ctx context.Context) (io.ReadWriteCloser, error) {
	a, b := net.Pipe()
	select {
	case l.conns <- b:
		return a, nil
	case <-l.closed:
		return nil, errors.New("forward stopped")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
