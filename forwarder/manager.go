package forwarder

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

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

	// waitLoaded waits for another forward's load of a cluster. A field
	// so that a test can hold a waiter at that point; it is
	// func(ce) { <-ce.loaded } otherwise.
	waitLoaded func(*clusterEntry)
}

type clusterEntry struct {
	key       string        // kube.Source.String(), its key in Manager.clusters
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
	fwd    *Forward      // nil while starting
	ce     *clusterEntry // the cluster it holds a reference to
	ns     string
	onStop func() // after fwd.Stop: relay forwards delete their relay

	// While starting: a Stop then cannot stop a forward that is not there
	// yet, so it gives the start up and marks it, and the start's end
	// hands the forward (if any) to that Stop instead of running it.
	cancel  context.CancelFunc // gives up the start
	started chan struct{}      // closed when the start is over
	stopped bool               // a Stop came while starting
}

// reserve claims id for a start. It returns false when the id runs or is
// starting already; then, if it is starting, it first waits (bounded by
// ctx) for that start to end, so that every Start returns once the forward
// listens or has failed. The context returned is the start's, ended by a
// Stop that comes first.
func (m *Manager) reserve(ctx context.Context, id int64) (*managed, context.Context, bool) {
	m.mu.Lock()
	if cur, ok := m.forwards[id]; ok {
		m.mu.Unlock()
		if cur.started != nil {
			select {
			case <-cur.started:
			case <-ctx.Done():
			}
		}
		return nil, nil, false
	}
	defer m.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	mf := &managed{cancel: cancel, started: make(chan struct{})}
	m.forwards[id] = mf
	return mf, ctx, true
}

// finish ends the start of mf: with err, it gives back what the start
// took; otherwise the forward runs, unless a Stop came meanwhile, which
// then stops it. Either way a stopped start reports stopped, not failed.
func (m *Manager) finish(cfg fwdconfig.Config, mf *managed, fwd *Forward, ce *clusterEntry, ns string, onStop func(), err error, reportErr bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer close(mf.started)
	defer mf.cancel()
	if err != nil {
		if m.forwards[cfg.ID] == mf {
			delete(m.forwards, cfg.ID)
		}
		if fwd != nil {
			fwd.resolver.Close()
			m.releaseLocked(ce, ns)
		}
		if mf.stopped {
			m.reportStopped(cfg)
			return nil
		}
		if reportErr {
			m.report(cfg, err)
		}
		return err
	}
	mf.fwd, mf.ce, mf.ns, mf.onStop = fwd, ce, ns, onStop
	return nil
}

// NewManager returns a Manager; opts apply to every forward it starts.
func NewManager(opts Options) *Manager {
	return &Manager{opts: opts.withDefaults(), pool: newConnPool(), clusters: map[string]*clusterEntry{}, forwards: map[int64]*managed{},
		waitLoaded: func(ce *clusterEntry) { <-ce.loaded }}
}

// Spec turns a kftray config into what to resolve and what to bind, for a
// direct port-forward. Configs that go through the in-cluster relay
// (relay.Needed) are relay.SpecFor's.
func Spec(cfg fwdconfig.Config) (target.Spec, BindRequest, error) {
	name := cfg.Alias
	if name == "" {
		name = "config " + strconv.FormatInt(cfg.ID, 10)
	}
	if p := strings.ToLower(cfg.Protocol); p != "" && p != "tcp" {
		return target.Spec{}, BindRequest{}, fmt.Errorf("%s: protocol %q is forwarded through the in-cluster relay, not a direct port-forward (start it with Manager.Start, which deploys the relay)", name, cfg.Protocol)
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
	case "proxy":
		return target.Spec{}, BindRequest{}, fmt.Errorf("%s: workload_type proxy is forwarded through the in-cluster relay, not a direct port-forward (start it with Manager.Start, which deploys the relay)", name)
	case "expose":
		return target.Spec{}, BindRequest{}, fmt.Errorf("%s: workload_type \"expose\" (a local port exposed into the cluster) is not supported by this kftray; use service, pod or proxy", name)
	default:
		return target.Spec{}, BindRequest{}, fmt.Errorf("%s: workload_type %q is not one of service, pod, proxy; fix the config (kftray config edit)", name, cfg.WorkloadType)
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

	mf, ctx, ok := m.reserve(ctx, cfg.ID)
	if !ok {
		return nil
	}
	fwd, ce, err := m.build(cfg, spec, bind, src)
	if err == nil {
		err = fwd.start(ctx)
	}
	// A forward that failed to bind reported its failure itself.
	return m.finish(cfg, mf, fwd, ce, spec.Namespace, nil, err, fwd == nil)
}

// build loads (or reuses) the cluster client and namespace watches. The
// first forward to a cluster loads it; concurrent ones wait for that load.
// It returns the cache entry the forward holds a reference to.
func (m *Manager) build(cfg fwdconfig.Config, spec target.Spec, bind BindRequest, src kube.Source) (*Forward, *clusterEntry, error) {
	key := src.String()
	m.mu.Lock()
	ce := m.clusters[key]
	// The reference is taken before the load, by the loader and by every
	// waiter alike, so the entry cannot be dropped (and replaced by a
	// new one under the same key) while someone still waits for it.
	if ce == nil {
		ce = &clusterEntry{key: key, informers: map[string]*nsEntry{}, loaded: make(chan struct{}), refs: 1}
		m.clusters[key] = ce
		m.mu.Unlock()
		cl, err := m.opts.LoadCluster(src)
		m.mu.Lock()
		ce.cluster, ce.err = cl, err
		if err != nil && m.clusters[key] == ce {
			// A failed load is forgotten at once, so the next start
			// retries it; the waiters still see this entry's error.
			delete(m.clusters, key)
		}
		close(ce.loaded)
	} else {
		ce.refs++
		m.mu.Unlock()
		m.waitLoaded(ce)
		m.mu.Lock()
	}
	if ce.err != nil {
		m.releaseLocked(ce, "")
		m.mu.Unlock()
		return nil, nil, ce.err
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
		m.releaseLocked(ce, spec.Namespace)
		m.mu.Unlock()
		return nil, nil, err
	}
	return newForward(cfg.ID, cfg.Alias, spec, bind, ce.cluster, res, m.pool, m.opts), ce, nil
}

// releaseLocked drops one forward's references to the cluster entry ce
// and, when ns is set, to that namespace's watches. It touches ce only:
// the cache may hold a newer entry for the same cluster.
func (m *Manager) releaseLocked(ce *clusterEntry, ns string) {
	if ne := ce.informers[ns]; ns != "" && ne != nil {
		ne.refs--
		if ne.refs <= 0 {
			ne.inf.Close()
			delete(ce.informers, ns)
		}
	}
	ce.refs--
	if ce.refs <= 0 && m.clusters[ce.key] == ce {
		delete(m.clusters, ce.key)
	}
}

// reportStopped tells the observer a config's start was given up by Stop.
func (m *Manager) reportStopped(cfg fwdconfig.Config) {
	if m.opts.Observer != nil {
		m.opts.Observer.ForwardState(State{ID: cfg.ID, Alias: cfg.Alias, Phase: Stopped, Since: time.Now()})
	}
}

// report tells the observer about a config that could not start.
func (m *Manager) report(cfg fwdconfig.Config, err error) {
	if m.opts.Observer != nil {
		m.opts.Observer.ForwardState(State{ID: cfg.ID, Alias: cfg.Alias, Phase: Failed, LastError: err.Error()})
	}
}

// Stop stops the forwards with these config ids, those still starting
// included: their start is given up, or what it started is stopped.
func (m *Manager) Stop(ids ...int64) {
	var wg sync.WaitGroup
	for _, id := range ids {
		m.mu.Lock()
		mf := m.forwards[id]
		starting := false
		if mf != nil {
			delete(m.forwards, id)
			if mf.fwd == nil {
				starting, mf.stopped = true, true
				mf.cancel()
			}
		}
		m.mu.Unlock()
		if mf == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if starting {
				<-mf.started
				if mf.fwd == nil {
					return // the start failed or gave up; nothing runs
				}
			}
			mf.fwd.Stop()
			if mf.onStop != nil {
				mf.onStop()
			}
			m.mu.Lock()
			m.releaseLocked(mf.ce, mf.ns)
			m.mu.Unlock()
		}()
	}
	wg.Wait()
}

// StopAll stops every forward, those still starting included.
func (m *Manager) StopAll() {
	m.mu.Lock()
	ids := make([]int64, 0, len(m.forwards))
	for id := range m.forwards {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	m.Stop(ids...)
}

// IDs lists the running forwards' config ids, sorted.
func (m *Manager) IDs() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]int64, 0, len(m.forwards))
	for id, mf := range m.forwards {
		if mf.fwd != nil {
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
		return mf.fwd // nil while starting
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
