package forwarder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder/inspect"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/forwarder/target"
	"github.com/kftray-go/kftray/forwarder/tunnel"
)

// Options tune forwards; the zero value is usable.
type Options struct {
	Logger   zerolog.Logger // default: disabled
	Binder   Binder         // default: DirectBinder
	Observer Observer       // default: none

	Transport tunnel.Transport // default: WebSocket, SPDY fallback
	// PingPeriod and DeadAfter: see tunnel.Options.
	PingPeriod, DeadAfter time.Duration
	// ConnWait bounds how long a local connection accepted while there is
	// no upgraded connection (or no ready pod) waits before it is closed.
	// Default 5 s.
	ConnWait time.Duration
	Backoff  Backoff

	// LoadCluster builds a client for a kubeconfig+context; default kube.Load.
	LoadCluster func(kube.Source) (*kube.Cluster, error)

	// Relay configures forwards through the in-cluster relay (UDP, proxy).
	Relay relay.Options

	// Inspector, if set, gives each forward its inspector when it starts,
	// once it is bound and before it accepts: no connection slips past
	// between the start and a later SetInspector. local is the bound
	// address; nil leaves the forward uninspected.
	Inspector func(configID int64, local net.Addr) inspect.Inspector
}

func (o Options) withDefaults() Options {
	if o.Binder == nil {
		o.Binder = DirectBinder{}
	}
	if o.ConnWait <= 0 {
		o.ConnWait = 5 * time.Second
	}
	if o.LoadCluster == nil {
		o.LoadCluster = kube.Load
	}
	o.Backoff = o.Backoff.withDefaults()
	return o
}

// Forward is one running port forward: a listener and the upgraded
// connection to the pod its target currently resolves to.
type Forward struct {
	alias    string
	cfgID    int64
	spec     target.Spec
	bind     BindRequest
	cluster  *kube.Cluster
	resolver *target.Resolver
	pool     *connPool
	opts     Options
	log      zerolog.Logger

	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	counters   tunnel.Counters
	active     atomic.Int64
	total      atomic.Int64
	reconnects atomic.Int64
	inspector  atomic.Pointer[inspect.Inspector] // nil: connections are not inspected

	mu      sync.Mutex
	conn    *tunnel.Conn // nil while down
	tgt     target.Target
	ready   chan struct{} // closed when conn is set; replaced when it is cleared
	state   State
	stopped chan struct{}
}

// newForward prepares a forward; start binds and runs it.
func newForward(cfgID int64, alias string, spec target.Spec, bind BindRequest, cluster *kube.Cluster, res *target.Resolver, pool *connPool, opts Options) *Forward {
	f := &Forward{
		cfgID: cfgID, alias: alias, spec: spec, bind: bind, cluster: cluster, resolver: res, pool: pool, opts: opts,
		log:     opts.Logger.With().Int64("forward", cfgID).Str("target", spec.String()).Logger(),
		ready:   make(chan struct{}),
		stopped: make(chan struct{}),
	}
	f.state = State{ID: cfgID, Alias: alias, Phase: Starting, Since: time.Now()}
	return f
}

func (f *Forward) start(ctx context.Context) error {
	ln, err := f.opts.Binder.Listen(ctx, f.bind)
	if err != nil {
		f.setState(func(s *State) { s.Phase, s.LastError = Failed, err.Error() })
		close(f.stopped)
		return err
	}
	f.ln = ln
	f.ctx, f.cancel = context.WithCancel(context.Background())
	if f.opts.Inspector != nil {
		f.SetInspector(f.opts.Inspector(f.cfgID, ln.Addr()))
	}
	f.setState(func(s *State) { s.Address = ln.Addr().String() })
	f.wg.Add(2)
	go f.supervise()
	go f.accept()
	return nil
}

// Addr is the bound local address (with the port picked when local_port is 0).
func (f *Forward) Addr() net.Addr { return f.ln.Addr() }

// Stop closes the listener and every connection, and waits for them.
func (f *Forward) Stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	f.ln.Close()
	f.wg.Wait()
	f.mu.Lock()
	c := f.conn
	f.mu.Unlock()
	if c != nil {
		f.retire(c)
	}
	f.resolver.Close()
	f.setState(func(s *State) {
		s.Phase, s.Pod, s.PodPort, s.Transport, s.NextTry, s.Attempt = Stopped, "", 0, "", time.Time{}, 0
	})
	select {
	case <-f.stopped:
	default:
		close(f.stopped)
	}
}

// SetInspector makes in see every local connection accepted from now on
// (package inspect); nil turns inspection off. Connections already open
// keep the inspector they started with until they close, so an inspector
// always sees a connection whole. Safe to call at any time, from any
// goroutine, without restarting the forward.
func (f *Forward) SetInspector(in inspect.Inspector) {
	if in == nil {
		f.inspector.Store(nil)
		return
	}
	f.inspector.Store(&in)
}

// Done is closed once the forward has stopped or failed to start.
func (f *Forward) Done() <-chan struct{} { return f.stopped }

// State returns a snapshot with current counters.
func (f *Forward) State() State {
	f.mu.Lock()
	s := f.state
	f.mu.Unlock()
	s.ActiveConns = f.active.Load()
	s.TotalConns = f.total.Load()
	s.BytesToPod = f.counters.ToPod.Load()
	s.BytesFromPod = f.counters.FromPod.Load()
	s.Reconnects = f.reconnects.Load()
	return s
}

func (f *Forward) setState(change func(*State)) {
	f.mu.Lock()
	old := f.state
	change(&f.state)
	if f.state.Phase != old.Phase {
		f.state.Since = time.Now()
	}
	f.mu.Unlock()
	if f.opts.Observer != nil {
		f.opts.Observer.ForwardState(f.State())
	}
}

// supervise keeps an upgraded connection to the current target's pod.
func (f *Forward) supervise() {
	defer f.wg.Done()
	attempt := 0
	connectedOnce := false
	started := time.Now()
	var connectedAt time.Time
	for {
		changed := f.resolver.Changed()
		tgt, rerr := f.resolver.Current()
		f.mu.Lock()
		cur := f.conn
		f.mu.Unlock()

		if cur != nil && rerr == nil && tgt.Pod == cur.Pod {
			if tgt != f.tgt {
				f.mu.Lock()
				f.tgt = tgt
				f.mu.Unlock()
			}
			// Healthy: wait for the connection to end or the target to move.
			var healthy <-chan time.Time
			if attempt > 0 {
				healthy = time.After(max(0, f.opts.Backoff.ResetAfter-time.Since(connectedAt)))
			}
			select {
			case <-f.ctx.Done():
				return
			case <-changed:
				continue
			case <-healthy:
				attempt = 0
				f.setState(func(s *State) { s.Attempt = 0 })
				continue
			case <-cur.Done():
				f.log.Info().Err(cur.Err()).Str("pod", cur.Pod).Msg("upgraded connection ended")
				f.retire(cur)
				if time.Since(connectedAt) >= f.opts.Backoff.ResetAfter {
					attempt = 0
				}
				continue
			}
		}

		if errors.Is(rerr, target.ErrNotSynced) && cur == nil && time.Since(started) < 10*time.Second {
			// Still starting (or the pod list is on its way): not a failure.
			select {
			case <-f.ctx.Done():
				return
			case <-changed:
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}

		var err error
		if rerr != nil {
			err = rerr
			if cur != nil {
				// Target gone or not ready: stop sending new connections
				// there; streams already on it finish on their own.
				f.retire(cur)
			}
		} else {
			var c *tunnel.Conn
			c, err = f.dial(tgt)
			if err == nil {
				if cur != nil {
					f.retire(cur)
				}
				if connectedOnce {
					f.reconnects.Add(1)
				}
				connectedOnce = true
				connectedAt = time.Now()
				f.mu.Lock()
				f.conn, f.tgt = c, tgt
				close(f.ready)
				f.mu.Unlock()
				f.log.Info().Str("pod", tgt.Pod).Int("port", tgt.Port).Str("transport", string(c.Transport)).Msg("connected")
				f.setState(func(s *State) {
					s.Phase, s.Pod, s.PodPort, s.Transport, s.Note = Running, tgt.Pod, tgt.Port, string(c.Transport), tgt.Note
					s.LastError, s.NextTry = "", time.Time{}
				})
				continue
			}
		}

		attempt++
		delay := f.opts.Backoff.Delay(attempt)
		next := time.Now().Add(delay)
		f.log.Debug().Err(err).Int("attempt", attempt).Dur("delay", delay).Msg("retrying")
		f.setState(func(s *State) {
			s.Phase, s.Attempt, s.LastError, s.NextTry = Retrying, attempt, err.Error(), next
			s.Pod, s.PodPort = "", 0
		})
		var back <-chan struct{}
		if kube.IsUnreachable(err) && delay > time.Second {
			// Long waits while the API server is away: a cheap TCP probe
			// each second ends the wait as soon as it listens again.
			back = f.probe(delay)
		}
		select {
		case <-f.ctx.Done():
			return
		case <-time.After(delay):
		case <-changed:
			// A new target (a replacement pod became ready): try it now.
		case <-back:
		}
	}
}

// probe closes the returned channel when the API server accepts a TCP
// connection, checking about once a second for at most d.
func (f *Forward) probe(d time.Duration) <-chan struct{} {
	up := make(chan struct{})
	u, err := url.Parse(f.cluster.Config.Host)
	if err != nil || u.Host == "" {
		return up
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[bool]string{true: "443", false: "80"}[u.Scheme != "http"])
	}
	go func() {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			select {
			case <-f.ctx.Done():
				return
			case <-time.After(time.Second):
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				close(up)
				return
			}
		}
	}()
	return up
}

func (f *Forward) dial(tgt target.Target) (*tunnel.Conn, error) {
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	return f.pool.get(ctx, f.poolKey(tgt.Pod), func(ctx context.Context) (*tunnel.Conn, error) {
		return tunnel.Dial(ctx, f.cluster.Config, f.spec.Namespace, tgt.Pod, tunnel.Options{
			Transport: f.opts.Transport, PingPeriod: f.opts.PingPeriod, DeadAfter: f.opts.DeadAfter,
		})
	})
}

func (f *Forward) poolKey(pod string) poolKey {
	return poolKey{cluster: f.cluster.Source.String(), namespace: f.spec.Namespace, pod: pod}
}

// retire takes c out of service for new local connections and gives it
// back to the pool, which closes it once no forward uses it and its last
// forwarded connection has finished.
func (f *Forward) retire(c *tunnel.Conn) {
	f.mu.Lock()
	if f.conn == c {
		f.conn = nil
		f.ready = make(chan struct{})
	}
	f.mu.Unlock()
	f.pool.put(f.poolKey(c.Pod), c)
}

func (f *Forward) accept() {
	defer f.wg.Done()
	var handlers sync.WaitGroup
	defer handlers.Wait()
	for {
		lc, err := f.ln.Accept()
		if err != nil {
			if f.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			f.log.Warn().Err(err).Msg("accept")
			select {
			case <-time.After(50 * time.Millisecond): // e.g. EMFILE: do not spin
			case <-f.ctx.Done():
				return
			}
			continue
		}
		id := f.total.Add(1)
		f.active.Add(1)
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			defer f.active.Add(-1)
			f.handle(lc, id)
		}()
	}
}

// handle forwards one local connection, the id-th of the forward, and
// shows it to the forward's inspector, if any.
func (f *Forward) handle(lc net.Conn, id int64) {
	local := tunnel.NewLocal(lc)
	var ic inspect.Conn
	if in := f.inspector.Load(); in != nil {
		ic = inspect.Open(*in, inspect.ConnInfo{ForwardID: f.cfgID, Forward: f.alias, ID: id,
			Client: lc.RemoteAddr(), Local: lc.LocalAddr(), Start: time.Now()})
		if ic != nil {
			local.Inspect(ic)
		}
	}
	err := f.forwardLocal(lc, local)
	if ic != nil {
		ic.Close(err)
	}
}

// forwardLocal forwards a local connection, waiting a bounded time for an
// upgraded connection if there is none right now. A connection the pod
// refused before it reached the pod's process (terminating, gone) is
// replayed on the next pod within the same bound. It returns why the
// connection ended (nil: both sides finished).
func (f *Forward) forwardLocal(lc net.Conn, local *tunnel.Local) error {
	stop := context.AfterFunc(f.ctx, func() { lc.Close() })
	defer stop()
	deadline := time.NewTimer(f.opts.ConnWait)
	defer deadline.Stop()
	// After a refusal, the same connection is tried again only after a
	// pause (a lone pod may be restarting its process); a new one at once.
	var refusedBy *tunnel.Conn
	var retryAt time.Time
	for {
		f.mu.Lock()
		c, tgt, ready := f.conn, f.tgt, f.ready
		f.mu.Unlock()
		if c != nil && (c != refusedBy || time.Now().After(retryAt)) {
			select {
			case <-c.Done():
				// Dead; the supervisor replaces it. Wait below.
			default:
				err := c.Forward(f.ctx, local, tgt.Port, &f.counters)
				var ref *tunnel.RefusedError
				if errors.As(err, &ref) {
					f.log.Debug().Err(err).Str("pod", c.Pod).Msg("refused before reaching the pod; trying again")
					refusedBy, retryAt = c, time.Now().Add(200*time.Millisecond)
					f.resolver.Avoid(c.Pod)
					continue
				}
				if err != nil {
					f.log.Debug().Err(err).Str("pod", c.Pod).Msg("connection ended with error")
				}
				return err
			}
		}
		select {
		case <-ready:
		case <-time.After(50 * time.Millisecond): // the conn seen may have died or been replaced
		case <-deadline.C:
			f.mu.Lock()
			why := f.state.LastError
			f.mu.Unlock()
			f.log.Info().Str("reason", why).Dur("waited", f.opts.ConnWait).Msg("closing local connection: no connection to a pod")
			lc.Close()
			if why == "" {
				why = "the forward is still starting"
			}
			return fmt.Errorf("no connection to a pod within %s: %s", f.opts.ConnWait, why)
		case <-f.ctx.Done():
			lc.Close()
			return fmt.Errorf("forward stopped: %w", f.ctx.Err())
		}
	}
}

// String names the forward in logs and errors.
func (f *Forward) String() string {
	if f.alias != "" {
		return f.alias
	}
	return fmt.Sprintf("forward %d (%s)", f.cfgID, f.spec)
}
