package daemon

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/helperbind"
	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// Engine is what the core needs from the forwarding engine;
// *forwarder.Manager implements it.
type Engine interface {
	Start(ctx context.Context, cfgs ...fwdconfig.Config) error
	Stop(ids ...int64)
	StopAll()
	Forward(id int64) *forwarder.Forward
	States() []forwarder.State
}

// Core owns running forwards for one process (the daemon, or `kftray run`)
// and writes their state to the store, where every interface reads it. It
// ties together what are separate concerns, each its own type: the engine
// (what runs), the desired set (what should run), the live states and
// their writer, the ownership of state rows across processes, and the
// client kubeconfigs; the API's views of it all are in views.go.
type Core struct {
	st     *store.Store
	eng    Engine
	pid    int
	log    zerolog.Logger
	hub    *httpapi.Hub
	binder *helperbind.Binder // ours to close, when the caller gave none
	http   *httpLogs          // HTTP traffic logs (httplogs.go)

	desired *desiredSet
	states  *liveStates
	owners  *owners
	kube    *kubeEnvs // the kubeconfig each forward's client meant

	mu    sync.Mutex
	cfgs  map[int64]fwdconfig.Config // configs this process started, as stored
	stops map[int64]uint64           // Stop calls per config, so a start can tell one came while it ran
	done  bool                       // StopAll ran: nothing starts any more
}

// CoreOptions configure a Core.
type CoreOptions struct {
	Store *store.Store
	Log   zerolog.Logger
	// Engine options for the forwards (binder, backoff, cluster loading).
	// The observer is the core's own.
	Engine forwarder.Options
	// Remember keeps the set of forwards that should run in the store, so
	// the next daemon restores it.
	Remember bool
	// DeadDaemon is the pid recorded by the previous daemon of this config
	// directory, when the caller holds the daemon lock (so that process is
	// gone): rows it owns are stale whatever runs under its pid now.
	DeadDaemon int
}

// NewCore returns a core whose engine is a forwarder.Manager.
func NewCore(opts CoreOptions) *Core {
	c := &Core{st: opts.Store, pid: osPID(), log: opts.Log, hub: httpapi.NewHub(),
		cfgs: map[int64]fwdconfig.Config{}, stops: map[int64]uint64{}}
	c.desired = &desiredSet{st: opts.Store, remember: opts.Remember, log: opts.Log}
	c.states = newLiveStates(opts.Store, c.pid, opts.Log, c.publish)
	c.owners = &owners{st: opts.Store, pid: c.pid, deadDaemon: opts.DeadDaemon, log: opts.Log}
	c.kube = newKubeEnvs(opts.Store, opts.Remember, opts.Log)
	eo := opts.Engine
	if eo.Binder == nil {
		// Direct binds when the user may; the root helper (dialed on first
		// need) for low ports, loopback addresses and hostnames.
		c.binder = &helperbind.Binder{}
		eo.Binder = c.binder
	}
	eo.Observer = forwarder.ObserverFunc(c.states.observe)
	c.http = newHTTPLogs(opts.Store, opts.Log)
	c.http.cfg = c.runningConfig
	c.http.fwd = func(id int64) *forwarder.Forward { return c.eng.Forward(id) }
	eo.Inspector = c.http.inspectorFor
	if eo.Logger.GetLevel() == zerolog.Disabled {
		eo.Logger = opts.Log
	}
	c.eng = forwarder.NewManager(eo)
	return c
}

// Close ends the helper session, if the core opened one: the helper then
// drops this process's hosts lines and addresses. Stop the forwards first.
func (c *Core) Close() error {
	if c.http != nil {
		c.http.close()
	}
	if c.binder == nil {
		return nil
	}
	return c.binder.Close()
}

// Hub is where state-change events are published.
func (c *Core) Hub() *httpapi.Hub { return c.hub }

// RunWriter writes state changes to the store as they come, and counters
// every period, until ctx ends.
func (c *Core) RunWriter(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	ticks := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.states.kick:
		case <-t.C:
			c.states.sample(c.eng.States())
			if ticks++; ticks%5 == 0 {
				c.reapDeleted(ctx)
			}
		}
		c.Flush(context.WithoutCancel(ctx))
	}
}

// reapDeleted stops the forwards whose config was deleted (kftray config
// rm) while they ran: nothing could name them to stop them otherwise.
func (c *Core) reapDeleted(ctx context.Context) {
	states := c.eng.States()
	if len(states) == 0 {
		return
	}
	cfgs, err := c.st.ListConfigs(ctx)
	if err != nil {
		c.log.Warn().Err(err).Msg("listing configs")
		return
	}
	exists := make(map[int64]bool, len(cfgs))
	for _, cfg := range cfgs {
		exists[cfg.ID] = true
	}
	var gone []int64
	for _, s := range states {
		if !exists[s.ID] {
			gone = append(gone, s.ID)
		}
	}
	if len(gone) == 0 {
		return
	}
	c.log.Info().Ints64("configs", gone).Msg("stopping forwards whose config was deleted")
	c.eng.Stop(gone...)
	if err := c.desired.change(ctx, gone, false); err != nil {
		c.log.Warn().Err(err).Msg("forgetting deleted configs")
	}
	if err := c.kube.set(ctx, gone, nil); err != nil {
		c.log.Warn().Err(err).Msg("forgetting deleted configs' kubeconfigs")
	}
	c.mu.Lock()
	for _, id := range gone {
		delete(c.cfgs, id)
	}
	c.mu.Unlock()
	c.states.forget(gone...)
}

// Flush writes every pending state to the store and publishes it.
func (c *Core) Flush(ctx context.Context) { c.states.flush(ctx) }

// publish sends a state just written to the API's event stream.
func (c *Core) publish(s forwarder.State) {
	c.mu.Lock()
	cfg, ok := c.cfgs[s.ID]
	c.mu.Unlock()
	if !ok {
		cfg = fwdconfig.Config{ID: s.ID, Alias: s.Alias}
	}
	f := c.view(cfg, s, true)
	c.hub.Publish(localapi.Event{Type: "forward", Forward: &f})
	c.log.Debug().Int64("config", s.ID).Str("status", f.Status).Str("pod", s.Pod).Str("error", s.LastError).Msg("forward state")
}

// selected resolves a selection to configs; refs that name nothing get a
// Result with the error.
func (c *Core) selected(ctx context.Context, sel localapi.Selection) ([]fwdconfig.Config, []string, []localapi.Result, error) {
	if sel.All {
		cfgs, err := c.st.ListConfigs(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		refs := make([]string, len(cfgs))
		for i, cfg := range cfgs {
			refs[i] = strconv.FormatInt(cfg.ID, 10)
		}
		return cfgs, refs, nil, nil
	}
	var (
		cfgs []fwdconfig.Config
		refs []string
		bad  []localapi.Result
		seen = map[int64]bool{}
	)
	for _, ref := range sel.Refs {
		cfg, err := c.st.LookupConfig(ctx, ref)
		if err != nil {
			bad = append(bad, localapi.Result{Ref: ref, Error: err.Error()})
			continue
		}
		if !seen[cfg.ID] {
			seen[cfg.ID] = true
			cfgs = append(cfgs, cfg)
			refs = append(refs, ref)
		}
	}
	return cfgs, refs, bad, nil
}

// Start starts the selected forwards (those already running are left
// alone) and returns once each is listening or has failed.
func (c *Core) Start(ctx context.Context, sel localapi.Selection) (localapi.Results, error) {
	all, allRefs, res, err := c.selected(ctx, sel)
	if err != nil {
		return localapi.Results{}, err
	}
	cfgs, refs, res := c.runnableHere(ctx, all, allRefs, res)
	if err := c.startConfigs(ctx, func(int64) *localapi.KubeEnv { return sel.Kube }, cfgs...); err != nil {
		return localapi.Results{}, err
	}
	return c.results(ctx, res, refs, cfgs), nil
}

// runnableHere keeps the configs (named by refs) this process may run: a
// config another live process forwards (`kftray run`) is its to stop, and
// is reported in res instead.
func (c *Core) runnableHere(ctx context.Context, cfgs []fwdconfig.Config, refs []string, res []localapi.Result) ([]fwdconfig.Config, []string, []localapi.Result) {
	var keep []fwdconfig.Config
	var keepRefs []string
	for i, cfg := range cfgs {
		if err := c.CheckNotRunElsewhere(ctx, cfg); err != nil {
			f, _ := c.one(ctx, cfg)
			res = append(res, localapi.Result{Ref: refs[i], Forward: &f, Error: err.Error()})
			continue
		}
		keep, keepRefs = append(keep, cfg), append(keepRefs, refs[i])
	}
	return keep, keepRefs, res
}

// StartConfigs starts forwards for cfgs and remembers them as desired.
// Per-forward failures are in their states, not in the error. Configs that
// name no kubeconfig use this process's environment.
func (c *Core) StartConfigs(ctx context.Context, cfgs ...fwdconfig.Config) error {
	return c.startConfigs(ctx, func(int64) *localapi.KubeEnv { return nil }, cfgs...)
}

// startConfigs is StartConfigs where env(id) is the kubeconfig a client
// meant for config id, if it names none (nil: this process's environment).
func (c *Core) startConfigs(ctx context.Context, env func(id int64) *localapi.KubeEnv, cfgs ...fwdconfig.Config) error {
	if len(cfgs) == 0 {
		return nil
	}
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done {
		// A request the API server could not finish before shutdown.
		return errors.New("the kftray daemon is stopping; start the forwards again once it has restarted")
	}
	ids := make([]int64, len(cfgs))
	run := make([]fwdconfig.Config, len(cfgs)) // as the engine runs them
	byEnv := map[localapi.KubeEnv][]int64{}    // configs to record with that env (zero: none)
	var changed []int64
	for i, cfg := range cfgs {
		ids[i] = cfg.ID
		c.mu.Lock()
		old, ok := c.cfgs[cfg.ID]
		c.cfgs[cfg.ID] = cfg
		c.mu.Unlock()
		// Starting a running forward whose config was edited since
		// applies the edit: it restarts with the new config.
		running := c.eng.Forward(cfg.ID) != nil
		if ok && old.Revision != cfg.Revision && running {
			changed, running = append(changed, cfg.ID), false
		}
		run[i] = cfg
		if !usesDefaultKubeconfig(cfg) {
			continue
		}
		e := env(cfg.ID)
		if e != nil {
			run[i] = withKube(cfg, *e)
		}
		// A running forward keeps the kubeconfig it runs with; the others
		// run with, and are restored with, this one.
		if !running {
			var k localapi.KubeEnv
			if e != nil {
				k = *e
			}
			byEnv[k] = append(byEnv[k], cfg.ID)
		}
	}
	for k, ids := range byEnv {
		e := &k
		if k == (localapi.KubeEnv{}) {
			e = nil
		}
		if err := c.kube.set(ctx, ids, e); err != nil {
			return err
		}
	}
	if err := c.desired.change(ctx, ids, true); err != nil {
		return err
	}
	if len(changed) > 0 {
		c.log.Info().Ints64("configs", changed).Msg("restarting forwards whose config changed")
		c.eng.Stop(changed...)
	}
	c.mu.Lock()
	stops := make([]uint64, len(ids))
	for i, id := range ids {
		stops[i] = c.stops[id]
	}
	c.mu.Unlock()
	if err := c.eng.Start(ctx, run...); err != nil {
		c.log.Info().Err(err).Msg("some forwards did not start")
	}
	// A stop that came before the engine had reserved the forward found
	// nothing to stop; it is honoured now.
	var late []int64
	c.mu.Lock()
	for i, id := range ids {
		if c.stops[id] != stops[i] {
			late = append(late, id)
		}
	}
	done = c.done
	c.mu.Unlock()
	if done {
		// StopAll ran meanwhile: what this start brought up must not
		// outlive it (they stay desired, for the next daemon).
		late = ids
	} else if len(late) > 0 && c.desired.remember {
		// Unless a start came again after that stop.
		if desired, err := c.desired.get(ctx); err == nil {
			late = slices.DeleteFunc(late, func(id int64) bool { return desired[id] })
		}
	}
	if len(late) > 0 {
		c.eng.Stop(late...)
	}
	c.Flush(ctx)
	return nil
}

// Stop stops the selected forwards and forgets them as desired.
func (c *Core) Stop(ctx context.Context, sel localapi.Selection) (localapi.Results, error) {
	cfgs, refs, res, err := c.selected(ctx, sel)
	if err != nil {
		return localapi.Results{}, err
	}
	ids := make([]int64, len(cfgs))
	for i, cfg := range cfgs {
		ids[i] = cfg.ID
	}
	c.mu.Lock()
	for _, id := range ids {
		c.stops[id]++
	}
	c.mu.Unlock()
	if err := c.desired.change(ctx, ids, false); err != nil {
		return localapi.Results{}, err
	}
	if err := c.kube.set(ctx, ids, nil); err != nil {
		return localapi.Results{}, err
	}
	c.eng.Stop(ids...)
	c.Flush(ctx)
	for i, cfg := range cfgs {
		r := localapi.Result{Ref: refs[i]}
		if err := c.owners.settle(ctx, cfg.ID, func() { c.states.forget(cfg.ID) }); err != nil {
			r.Error = err.Error()
		}
		f, err := c.one(ctx, cfg)
		if err != nil && r.Error == "" {
			r.Error = err.Error()
		}
		r.Forward = &f
		res = append(res, r)
	}
	return localapi.Results{Results: res}, nil
}

// DeleteConfig stops the forward of the config ref names (alias or id),
// forgets it as desired and deletes the config.
func (c *Core) DeleteConfig(ctx context.Context, ref string) (int64, error) {
	cfg, err := c.st.LookupConfig(ctx, ref)
	if err != nil {
		return 0, err
	}
	c.eng.Stop(cfg.ID)
	c.Flush(ctx)
	if err := c.desired.change(ctx, []int64{cfg.ID}, false); err != nil {
		return 0, err
	}
	if err := c.kube.set(ctx, []int64{cfg.ID}, nil); err != nil {
		return 0, err
	}
	if err := c.st.DeleteConfigs(ctx, cfg.ID); err != nil {
		return 0, err
	}
	c.mu.Lock()
	delete(c.cfgs, cfg.ID)
	c.mu.Unlock()
	c.states.forget(cfg.ID)
	return cfg.ID, nil
}

// StopAll stops every forward this process runs (they stay desired) and
// writes their stopped states.
func (c *Core) StopAll(ctx context.Context) {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	// Those still starting too: a start in flight must not come up after.
	c.eng.StopAll()
	// Forwards that failed here are not in the engine but may still say
	// failed with our pid: leave those, they are true.
	c.Flush(ctx)
}

// Running counts the forwards this process runs.
func (c *Core) Running() int { return len(c.eng.States()) }

// Desired returns the set of configs whose forwards should run.
func (c *Core) Desired(ctx context.Context) (map[int64]bool, error) { return c.desired.get(ctx) }

// Restore starts the forwards that should run (configs deleted since are
// dropped from the set).
func (c *Core) Restore(ctx context.Context) (int, error) {
	desired, err := c.desired.get(ctx)
	if err != nil || len(desired) == 0 {
		return 0, err
	}
	cfgs, err := c.st.ListConfigs(ctx)
	if err != nil {
		return 0, err
	}
	var start []fwdconfig.Config
	for _, cfg := range cfgs {
		if desired[cfg.ID] {
			start = append(start, cfg)
			delete(desired, cfg.ID)
		}
	}
	gone := make([]int64, 0, len(desired))
	for id := range desired {
		gone = append(gone, id)
	}
	if err := c.desired.change(ctx, gone, false); err != nil {
		return 0, err
	}
	if err := c.kube.set(ctx, gone, nil); err != nil {
		return 0, err
	}
	// Each with the kubeconfig its client meant when it was started.
	envs, err := c.kube.recorded(ctx)
	if err != nil {
		return 0, err
	}
	return len(start), c.startConfigs(ctx, func(id int64) *localapi.KubeEnv {
		if e, ok := envs[id]; ok {
			return &e
		}
		return nil
	}, start...)
}

// ClearStale removes the states of forwards whose owning process is gone
// (a daemon or `kftray run` that was killed), so nothing claims to run
// what nothing runs. States of live owners are left alone.
func (c *Core) ClearStale(ctx context.Context) (int, error) { return c.owners.clearStale(ctx) }

// CheckNotRunElsewhere fails when another live kftray process (the daemon,
// another `kftray run`) forwards one of cfgs, naming it and how to stop it.
func (c *Core) CheckNotRunElsewhere(ctx context.Context, cfgs ...fwdconfig.Config) error {
	return c.owners.checkNotElsewhere(ctx, cfgs...)
}

// results appends each started config's forward to res, failed ones with
// their error.
func (c *Core) results(ctx context.Context, res []localapi.Result, refs []string, cfgs []fwdconfig.Config) localapi.Results {
	for i, cfg := range cfgs {
		f, err := c.one(ctx, cfg)
		r := localapi.Result{Ref: refs[i], Forward: &f}
		if err != nil {
			r.Error = err.Error()
		} else if f.Status == localapi.StatusFailed {
			r.Error = f.LastError
		}
		res = append(res, r)
	}
	return localapi.Results{Results: res}
}
