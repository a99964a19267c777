package forwarder

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/forwarder/target"
	"github.com/kftray-go/kftray/fwdconfig"
)

// Manager owns many forwards. Forwards to the same cluster share one
// client, and forwards into the same namespace share its watches, so a
// hundred forwards cost one client and a few watches, not a hundred.
type Manager struct {
	opts Options
	pool *connPool // upgraded connections, one per pod, shared by forwards

	mu       sync.Mutex
	clusters map[string]*clusterEntry // by kube.Source
	forwards map[int64]*managed

	relayOnce sync.Once     // fixes the relay options' defaults (the owner session) once
	relayOpts relay.Options // opts.Relay with defaults; see relayOptions
}

type clusterEntry struct {
	loaded    chan struct{} // closed when cluster or err is set
	cluster   *kube.Cluster
	err       error
	refs      int                 // forwards using it
	informers map[string]*nsEntry // by namespace
}

type nsEntry struct {
	inf  *target.Informers
	refs int
}

type managed struct {
	fwd    *Forward
	src    kube.Source
	ns     string
	onStop func() // after fwd.Stop: relay forwards delete their relay
}

// NewManager returns a Manager; opts apply to every forward it starts.
func NewManager(opts Options) *Manager {
	return &Manager{opts: opts.withDefaults(), pool: newConnPool(), clusters: map[string]*clusterEntry{}, forwards: map[int64]*managed{}}
}

// Spec turns a kftray config into what to resolve and what to bind.
func Spec(cfg fwdconfig.Config) (target.Spec, BindRequest, error) {
	name := cfg.Alias
	if name == "" {
		name = "config " + strconv.FormatInt(cfg.ID, 10)
	}
	if p := strings.ToLower(cfg.Protocol); p != "" && p != "tcp" {
		return target.Spec{}, BindRequest{}, fmt.Errorf("%s: protocol %q needs the in-cluster relay, which this engine does not run yet; use tcp", name, cfg.Protocol)
	}
	if cfg.Namespace == "" {
		return target.Spec{}, BindRequest{}, fmt.Errorf("%s: namespace is empty; set the config's namespace", name)
	}
	if cfg.RemotePort <= 0 || cfg.RemotePort > 65535 {
		return target.Spec{}, BindRequest{}, fmt.Errorf("%s: remote_port %d is not a port; set it to the service (or container) port", name, cfg.RemotePort)
	}
	if cfg.LocalPort < 0 || cfg.LocalPort > 65535 {
		return target.Spec{}, BindRequest{}, fmt.Errorf("%s: local_port %d is not a port (0 picks a free one)", name, cfg.LocalPort)
	}
	spec := target.Spec{Namespace: cfg.Namespace, Port: intstr.FromInt(cfg.RemotePort)}
	switch strings.ToLower(cfg.WorkloadType) {
	case "", "service":
		if cfg.Service == "" {
			return target.Spec{}, BindRequest{}, fmt.Errorf("%s: workload_type service needs the service name", name)
		}
		spec.Kind, spec.Name = target.Service, cfg.Service
	case "pod":
		if cfg.Target == "" {
			return target.Spec{}, BindRequest{}, fmt.Errorf("%s: workload_type pod needs a label selector in target (for example app=web)", name)
		}
		spec.Kind, spec.Selector = target.Pod, cfg.Target
	default:
		return target.Spec{}, BindRequest{}, fmt.Errorf("%s: workload_type %q needs the in-cluster relay, which this engine does not run yet; use service or pod", name, cfg.WorkloadType)
	}
	bind := BindRequest{ConfigID: cfg.ID, Network: "tcp", IP: cfg.LocalAddress, Port: cfg.LocalPort, AutoLoopback: cfg.AutoLoopbackAddress}
	if cfg.DomainEnabled && cfg.Alias != "" {
		bind.Hostnames = []string{cfg.Alias}
	}
	return spec, bind, nil
}

// Start starts forwards for cfgs (already running ones are left alone) and
// returns once each is listening or has failed. Errors are joined, one per
// config; the others still start.
func (m *Manager) Start(ctx context.Context, cfgs ...fwdconfig.Config) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.startOne(ctx, cfg); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (m *Manager) startOne(ctx context.Context, cfg fwdconfig.Config) error {
	if relay.Needed(cfg) {
		return m.startRelay(ctx, cfg)
	}
	spec, bind, err := Spec(cfg)
	if err != nil {
		m.report(cfg, err)
		return err
	}
	src := kube.Source{Kubeconfig: cfg.Kubeconfig, Context: cfg.Context}

	m.mu.Lock()
	if _, ok := m.forwards[cfg.ID]; ok {
		m.mu.Unlock()
		return nil
	}
	m.forwards[cfg.ID] = nil // reserve the id while starting
	m.mu.Unlock()

	fwd, err := m.build(cfg, spec, bind, src)
	if err == nil {
		err = fwd.start(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		delete(m.forwards, cfg.ID)
		if fwd != nil {
			fwd.resolver.Close()
			m.releaseLocked(src, spec.Namespace)
		} else {
			m.report(cfg, err)
		}
		return err
	}
	m.forwards[cfg.ID] = &managed{fwd: fwd, src: src, ns: spec.Namespace}
	return nil
}

// build loads (or reuses) the cluster client and namespace watches. The
// first forward to a cluster loads it; concurrent ones wait for that load.
func (m *Manager) build(cfg fwdconfig.Config, spec target.Spec, bind BindRequest, src kube.Source) (*Forward, error) {
	m.mu.Lock()
	ce := m.clusters[src.String()]
	if ce == nil {
		ce = &clusterEntry{informers: map[string]*nsEntry{}, loaded: make(chan struct{})}
		m.clusters[src.String()] = ce
		m.mu.Unlock()
		ce.cluster, ce.err = m.opts.LoadCluster(src)
		close(ce.loaded)
		m.mu.Lock()
	} else {
		m.mu.Unlock()
		<-ce.loaded
		m.mu.Lock()
	}
	ce.refs++
	if ce.err != nil {
		m.releaseLocked(src, "")
		m.mu.Unlock()
		return nil, ce.err
	}
	ne := ce.informers[spec.Namespace]
	if ne == nil {
		ne = &nsEntry{inf: target.NewInformers(ce.cluster.Client, ce.cluster.Config.Host, spec.Namespace)}
		ce.informers[spec.Namespace] = ne
	}
	ne.refs++
	m.mu.Unlock()
	res, err := target.NewResolver(ne.inf, spec)
	if err != nil {
		m.mu.Lock()
		m.releaseLocked(src, spec.Namespace)
		m.mu.Unlock()
		return nil, err
	}
	return newForward(cfg.ID, cfg.Alias, spec, bind, ce.cluster, res, m.pool, m.opts), nil
}

// releaseLocked drops one forward's references to a cluster and, when ns
// is set, to that namespace's watches.
func (m *Manager) releaseLocked(src kube.Source, ns string) {
	ce := m.clusters[src.String()]
	if ce == nil {
		return
	}
	if ne := ce.informers[ns]; ns != "" && ne != nil {
		ne.refs--
		if ne.refs <= 0 {
			ne.inf.Close()
			delete(ce.informers, ns)
		}
	}
	ce.refs--
	if ce.refs <= 0 {
		// A failed load is forgotten too, so the next start retries it.
		delete(m.clusters, src.String())
	}
}

// report tells the observer about a config that could not start.
func (m *Manager) report(cfg fwdconfig.Config, err error) {
	if m.opts.Observer != nil {
		m.opts.Observer.ForwardState(State{ID: cfg.ID, Alias: cfg.Alias, Phase: Failed, LastError: err.Error()})
	}
}

// Stop stops the forwards with these config ids.
func (m *Manager) Stop(ids ...int64) {
	var wg sync.WaitGroup
	for _, id := range ids {
		m.mu.Lock()
		mf := m.forwards[id]
		if mf != nil {
			delete(m.forwards, id)
		}
		m.mu.Unlock()
		if mf == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mf.fwd.Stop()
			if mf.onStop != nil {
				mf.onStop()
			}
			m.mu.Lock()
			m.releaseLocked(mf.src, mf.ns)
			m.mu.Unlock()
		}()
	}
	wg.Wait()
}

// StopAll stops every forward.
func (m *Manager) StopAll() { m.Stop(m.IDs()...) }

// IDs lists the running forwards' config ids, sorted.
func (m *Manager) IDs() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]int64, 0, len(m.forwards))
	for id, mf := range m.forwards {
		if mf != nil {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Forward returns the running forward for a config id, or nil.
func (m *Manager) Forward(id int64) *Forward {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mf := m.forwards[id]; mf != nil {
		return mf.fwd
	}
	return nil
}

// States snapshots every running forward, sorted by id.
func (m *Manager) States() []State {
	var out []State
	for _, id := range m.IDs() {
		if f := m.Forward(id); f != nil {
			out = append(out, f.State())
		}
	}
	return out
}

// Clusters is how many cluster clients the manager holds (for tests and
// memory accounting).
func (m *Manager) Clusters() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.clusters)
}
