package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/helperbind"
	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/proc"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// DesiredKey is the setting holding the ids of the configs whose forwards
// should run (a JSON array). The daemon restores them when it starts.
const DesiredKey = "daemon.desired"

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
// and writes their state to the store, where every interface reads it.
type Core struct {
	st       *store.Store
	eng      Engine
	pid      int
	log      zerolog.Logger
	hub      *httpapi.Hub
	remember bool // keep the desired set in the store (the daemon does; run does not)
	// deadDaemon is the pid the previous daemon of this config directory
	// recorded. Holding the daemon lock proves that process gone, even if
	// its pid is taken by another process now (or it is a zombie).
	deadDaemon int
	binder     *helperbind.Binder // ours to close, when the caller gave none
	kube       *kubeEnvs          // the kubeconfig each forward's client meant

	mu      sync.Mutex
	cfgs    map[int64]fwdconfig.Config // configs this process started
	live    map[int64]forwarder.State  // latest state per forward
	pending map[int64]bool             // states not yet written
	written map[int64]forwarder.State  // last state written, for counter changes
	stops   map[int64]uint64           // Stop calls per config, so a start can tell one came while it ran
	desMu   sync.Mutex                 // serializes changes to the desired set
	writeMu sync.Mutex                 // one writer at a time
	kick    chan struct{}
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
	c := &Core{
		st: opts.Store, pid: osPID(), log: opts.Log, hub: httpapi.NewHub(), remember: opts.Remember, deadDaemon: opts.DeadDaemon,
		cfgs: map[int64]fwdconfig.Config{}, live: map[int64]forwarder.State{}, pending: map[int64]bool{},
		written: map[int64]forwarder.State{}, stops: map[int64]uint64{}, kick: make(chan struct{}, 1),
	}
	c.kube = newKubeEnvs(opts.Store, opts.Remember, opts.Log)
	eo := opts.Engine
	if eo.Binder == nil {
		// Direct binds when the user may; the root helper (dialed on first
		// need) for low ports, loopback addresses and hostnames.
		c.binder = &helperbind.Binder{}
		eo.Binder = c.binder
	}
	eo.Observer = forwarder.ObserverFunc(c.observe)
	if eo.Logger.GetLevel() == zerolog.Disabled {
		eo.Logger = opts.Log
	}
	c.eng = forwarder.NewManager(eo)
	return c
}

// Close ends the helper session, if the core opened one: the helper then
// drops this process's hosts lines and addresses. Stop the forwards first.
func (c *Core) Close() error {
	if c.binder == nil {
		return nil
	}
	return c.binder.Close()
}

// Hub is where state-change events are published.
func (c *Core) Hub() *httpapi.Hub { return c.hub }

// observe is the engine's callback: it must not block the forward, so it
// only records the change for the writer.
func (c *Core) observe(s forwarder.State) {
	c.mu.Lock()
	c.live[s.ID] = s
	c.pending[s.ID] = true
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

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
		case <-c.kick:
		case <-t.C:
			c.sampleCounters()
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
	if err := c.changeDesired(ctx, gone, false); err != nil {
		c.log.Warn().Err(err).Msg("forgetting deleted configs")
	}
	if err := c.kube.set(ctx, gone, nil); err != nil {
		c.log.Warn().Err(err).Msg("forgetting deleted configs' kubeconfigs")
	}
	c.mu.Lock()
	for _, id := range gone {
		delete(c.cfgs, id)
		delete(c.live, id)
		delete(c.pending, id)
		delete(c.written, id)
	}
	c.mu.Unlock()
}

// sampleCounters marks forwards whose counters moved since the last write.
func (c *Core) sampleCounters() {
	states := c.eng.States()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range states {
		w, ok := c.written[s.ID]
		if !ok || w.ActiveConns != s.ActiveConns || w.TotalConns != s.TotalConns ||
			w.BytesToPod != s.BytesToPod || w.BytesFromPod != s.BytesFromPod || w.Reconnects != s.Reconnects {
			// Keep the phase the observer reported last; counters are fresher here.
			if l, ok := c.live[s.ID]; ok && l.Phase != s.Phase {
				continue
			}
			c.live[s.ID] = s
			c.pending[s.ID] = true
		}
	}
}

// Flush writes every pending state to the store and publishes it.
func (c *Core) Flush(ctx context.Context) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	var todo []forwarder.State
	for id := range c.pending {
		todo = append(todo, c.live[id])
	}
	clear(c.pending)
	c.mu.Unlock()
	sort.Slice(todo, func(i, j int) bool { return todo[i].ID < todo[j].ID })
	for _, s := range todo {
		// Starting is written too (as retrying, attempt 0): the row claims
		// the forward for this process at once, so no other process
		// starts it meanwhile.
		st := toStore(s, c.pid)
		if err := c.st.PutState(ctx, &st); err != nil {
			// A config deleted while it ran has no row to write to.
			lvl := zerolog.WarnLevel
			if errors.Is(err, fwdconfig.ErrNotFound) {
				lvl = zerolog.DebugLevel
			}
			c.log.WithLevel(lvl).Err(err).Int64("config", s.ID).Msg("writing forward state")
		}
		c.mu.Lock()
		c.written[s.ID] = s
		cfg, ok := c.cfgs[s.ID]
		c.mu.Unlock()
		if !ok {
			cfg = fwdconfig.Config{ID: s.ID, Alias: s.Alias}
		}
		f := c.view(cfg, s, true)
		c.hub.Publish(localapi.Event{Type: "forward", Forward: &f})
		c.log.Debug().Int64("config", s.ID).Str("status", f.Status).Str("pod", s.Pod).Str("error", s.LastError).Msg("forward state")
	}
}

func toStore(s forwarder.State, pid int) store.State {
	st := store.State{ConfigID: s.ID, PID: pid, Attempt: s.Attempt, LastError: s.LastError, NextRetry: s.NextTry,
		LocalAddr: s.Address, Pod: s.Pod, ActiveConns: s.ActiveConns, TotalConns: s.TotalConns,
		BytesIn: s.BytesFromPod, BytesOut: s.BytesToPod, Reconnects: s.Reconnects}
	switch s.Phase {
	case forwarder.Running:
		st.Status = fwdconfig.StatusRunning
	case forwarder.Retrying, forwarder.Starting:
		st.Status = fwdconfig.StatusRetrying
	case forwarder.Failed:
		st.Status = fwdconfig.StatusFailed
	default:
		// Stopped on purpose: what it was bound to and why it last
		// failed no longer describe anything.
		st.Status, st.LocalAddr, st.LastError = fwdconfig.StatusStopped, "", ""
	}
	return st
}

// view builds the API's picture of a forward this process runs.
func (c *Core) view(cfg fwdconfig.Config, s forwarder.State, desired bool) localapi.Forward {
	f := localapi.Forward{ID: cfg.ID, Name: cfg.Name(), Config: cfg, Status: string(s.Phase), Desired: desired,
		Address: s.Address, Pod: s.Pod, Transport: s.Transport, Attempt: s.Attempt, LastError: s.LastError,
		NextTry: s.NextTry, Since: s.Since, UpdatedAt: time.Now(),
		ActiveConns: s.ActiveConns, TotalConns: s.TotalConns, BytesToPod: s.BytesToPod,
		BytesFromPod: s.BytesFromPod, Reconnects: s.Reconnects, Kube: c.kube.get(cfg.ID)}
	switch s.Phase {
	case forwarder.Stopped:
		f.Address, f.LastError = "", ""
	case forwarder.Failed:
	default:
		f.PID = c.pid
	}
	return f
}

// storedView builds the picture of a forward this process does not run,
// from the store.
func storedView(cfg fwdconfig.Config, st *store.State, desired bool) localapi.Forward {
	f := localapi.Forward{ID: cfg.ID, Name: cfg.Name(), Config: cfg, Status: localapi.StatusStopped, Desired: desired}
	if st == nil {
		return f
	}
	f.Status = string(st.Status)
	f.LastError, f.Attempt, f.NextTry, f.UpdatedAt = st.LastError, st.Attempt, st.NextRetry, st.UpdatedAt
	f.ActiveConns, f.TotalConns, f.BytesToPod, f.BytesFromPod, f.Reconnects =
		st.ActiveConns, st.TotalConns, st.BytesOut, st.BytesIn, st.Reconnects
	if st.Status != fwdconfig.StatusStopped {
		f.PID, f.Address, f.Pod = st.PID, st.LocalAddr, st.Pod
	}
	return f
}

// running reports the live state of a forward this process runs now.
func (c *Core) running(id int64) (forwarder.State, bool) {
	if f := c.eng.Forward(id); f != nil {
		return f.State(), true
	}
	return forwarder.State{}, false
}

// Forwards lists every config with its state: live for the forwards this
// process runs, from the store for the others.
func (c *Core) Forwards(ctx context.Context) ([]localapi.Forward, error) {
	cfgs, err := c.st.ListConfigs(ctx)
	if err != nil {
		return nil, err
	}
	states, err := c.st.GetStates(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*store.State, len(states))
	for i := range states {
		byID[states[i].ConfigID] = &states[i]
	}
	desired, err := c.Desired(ctx)
	if err != nil {
		return nil, err
	}
	envs, err := c.kube.recorded(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]localapi.Forward, 0, len(cfgs))
	for _, cfg := range cfgs {
		out = append(out, withRecordedKube(c.forwardView(cfg, byID[cfg.ID], desired[cfg.ID]), envs))
	}
	return out, nil
}

func (c *Core) forwardView(cfg fwdconfig.Config, st *store.State, desired bool) localapi.Forward {
	if s, ok := c.running(cfg.ID); ok {
		return c.view(cfg, s, desired)
	}
	c.mu.Lock()
	s, ok := c.live[cfg.ID]
	c.mu.Unlock()
	if ok && (st == nil || st.PID == c.pid) {
		// Failed or stopped here: what this process last saw is the freshest.
		return c.view(cfg, s, desired)
	}
	return storedView(cfg, st, desired)
}

// withRecordedKube fills in, for a forward this process does not run, the
// kubeconfig its next restore will use.
func withRecordedKube(f localapi.Forward, envs map[int64]localapi.KubeEnv) localapi.Forward {
	if e, ok := envs[f.ID]; ok && f.Kube == nil && usesDefaultKubeconfig(f.Config) {
		f.Kube = &e
	}
	return f
}

// Forward returns one config (alias or id) with its state.
func (c *Core) Forward(ctx context.Context, ref string) (localapi.Forward, error) {
	cfg, err := c.st.LookupConfig(ctx, ref)
	if err != nil {
		return localapi.Forward{}, err
	}
	return c.one(ctx, cfg)
}

func (c *Core) one(ctx context.Context, cfg fwdconfig.Config) (localapi.Forward, error) {
	st, err := c.st.GetState(ctx, cfg.ID)
	var sp *store.State
	switch {
	case err == nil:
		sp = &st
	case !errors.Is(err, fwdconfig.ErrNotFound):
		return localapi.Forward{}, err
	}
	desired, err := c.Desired(ctx)
	if err != nil {
		return localapi.Forward{}, err
	}
	envs, err := c.kube.recorded(ctx)
	if err != nil {
		return localapi.Forward{}, err
	}
	return withRecordedKube(c.forwardView(cfg, sp, desired[cfg.ID]), envs), nil
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
	// A config another live process forwards (`kftray run`) is its to stop.
	var cfgs []fwdconfig.Config
	var refs []string
	for i, cfg := range all {
		if err := c.CheckNotRunElsewhere(ctx, cfg); err != nil {
			f, _ := c.one(ctx, cfg)
			res = append(res, localapi.Result{Ref: allRefs[i], Forward: &f, Error: err.Error()})
			continue
		}
		cfgs, refs = append(cfgs, cfg), append(refs, allRefs[i])
	}
	if err := c.startConfigs(ctx, func(int64) *localapi.KubeEnv { return sel.Kube }, cfgs...); err != nil {
		return localapi.Results{}, err
	}
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
	return localapi.Results{Results: res}, nil
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
	if err := c.changeDesired(ctx, ids, true); err != nil {
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
	c.mu.Unlock()
	if len(late) > 0 && c.remember {
		// Unless a start came again after that stop.
		if desired, err := c.Desired(ctx); err == nil {
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
	if err := c.changeDesired(ctx, ids, false); err != nil {
		return localapi.Results{}, err
	}
	if err := c.kube.set(ctx, ids, nil); err != nil {
		return localapi.Results{}, err
	}
	c.eng.Stop(ids...)
	c.Flush(ctx)
	for i, cfg := range cfgs {
		r := localapi.Result{Ref: refs[i]}
		if err := c.settle(ctx, cfg.ID); err != nil {
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

// settle makes a stopped forward's stored state say so: a forward that
// failed here, or whose owner died, is marked stopped. One that another
// live process runs (`kftray run`) is reported, not touched.
func (c *Core) settle(ctx context.Context, id int64) error {
	st, err := c.st.GetState(ctx, id)
	if errors.Is(err, fwdconfig.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Status == fwdconfig.StatusStopped {
		return nil
	}
	if st.PID != c.pid && c.ownerAlive(st.PID) {
		return fmt.Errorf("config %d is forwarded by another kftray process (pid %d, probably 'kftray run'); stop it there (Ctrl-C)", id, st.PID)
	}
	st.Status, st.PID, st.Attempt, st.NextRetry, st.Pod, st.ActiveConns = fwdconfig.StatusStopped, c.pid, 0, time.Time{}, "", 0
	c.mu.Lock()
	delete(c.live, id)
	c.mu.Unlock()
	return c.st.PutState(ctx, &st)
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
	if err := c.changeDesired(ctx, []int64{cfg.ID}, false); err != nil {
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
	delete(c.live, cfg.ID)
	delete(c.written, cfg.ID)
	c.mu.Unlock()
	return cfg.ID, nil
}

// StopAll stops every forward this process runs (they stay desired) and
// writes their stopped states.
func (c *Core) StopAll(ctx context.Context) {
	// Those still starting too: a start in flight must not come up after.
	c.eng.StopAll()
	// Forwards that failed here are not in the engine but may still say
	// failed with our pid: leave those, they are true.
	c.Flush(ctx)
}

// Running counts the forwards this process runs.
func (c *Core) Running() int { return len(c.eng.States()) }

// Desired returns the set of configs whose forwards should run.
func (c *Core) Desired(ctx context.Context) (map[int64]bool, error) {
	v, ok, err := c.st.GetSetting(ctx, DesiredKey)
	if err != nil || !ok || v == "" {
		return map[int64]bool{}, err
	}
	var ids []int64
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		c.log.Warn().Err(err).Str("value", v).Msg("ignoring a malformed " + DesiredKey + " setting")
		return map[int64]bool{}, nil
	}
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m, nil
}

func (c *Core) changeDesired(ctx context.Context, ids []int64, want bool) error {
	if !c.remember || len(ids) == 0 {
		return nil
	}
	c.desMu.Lock()
	defer c.desMu.Unlock()
	m, err := c.Desired(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if want {
			m[id] = true
		} else {
			delete(m, id)
		}
	}
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	b, _ := json.Marshal(out)
	if err := c.st.SetSetting(ctx, DesiredKey, string(b)); err != nil {
		return fmt.Errorf("remembering which forwards should run: %w", err)
	}
	return nil
}

// Restore starts the forwards that should run (configs deleted since are
// dropped from the set).
func (c *Core) Restore(ctx context.Context) (int, error) {
	desired, err := c.Desired(ctx)
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
	if err := c.changeDesired(ctx, gone, false); err != nil {
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
func (c *Core) ClearStale(ctx context.Context) (int, error) {
	states, err := c.st.GetStates(ctx)
	if err != nil {
		return 0, err
	}
	done := map[int]bool{}
	total := 0
	for _, st := range states {
		// Only states that claim something runs are stale; stopped and
		// failed ones stay true after their owner is gone.
		if st.PID == 0 || done[st.PID] || (st.Status != fwdconfig.StatusRunning && st.Status != fwdconfig.StatusRetrying) {
			continue
		}
		// Rows with our own pid are stale too: nothing has started yet,
		// so they are an earlier process's whose pid we were given.
		if st.PID != c.pid && c.ownerAlive(st.PID) {
			continue
		}
		done[st.PID] = true
		n, err := c.st.ClearStates(ctx, st.PID)
		if err != nil {
			return total, err
		}
		c.log.Info().Int("pid", st.PID).Int("states", n).Msg("cleared the states of a kftray process that is gone")
		total += n
	}
	return total, nil
}

// StoredForwards lists every config with its state as the store has it,
// for when no daemon runs. A state whose owning process is gone is shown as
// stopped, with a note, since nothing forwards it.
func StoredForwards(ctx context.Context, st *store.Store) ([]localapi.Forward, error) {
	cfgs, err := st.ListConfigs(ctx)
	if err != nil {
		return nil, err
	}
	states, err := st.GetStates(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*store.State, len(states))
	for i := range states {
		byID[states[i].ConfigID] = &states[i]
	}
	core := &Core{st: st, log: zerolog.Nop()}
	desired, err := core.Desired(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]localapi.Forward, 0, len(cfgs))
	for _, cfg := range cfgs {
		s := byID[cfg.ID]
		f := storedView(cfg, s, desired[cfg.ID])
		if s != nil && (s.Status == fwdconfig.StatusRunning || s.Status == fwdconfig.StatusRetrying) && !proc.Alive(s.PID) {
			f = storedView(cfg, nil, desired[cfg.ID])
			f.LastError = fmt.Sprintf("was %s in process %d, which is gone", s.Status, s.PID)
		}
		out = append(out, f)
	}
	return out, nil
}

// CheckNotRunElsewhere fails when another live kftray process (the daemon,
// another `kftray run`) forwards one of cfgs, naming it and how to stop it.
func (c *Core) CheckNotRunElsewhere(ctx context.Context, cfgs ...fwdconfig.Config) error {
	for _, cfg := range cfgs {
		st, err := c.st.GetState(ctx, cfg.ID)
		if errors.Is(err, fwdconfig.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Status != fwdconfig.StatusStopped && st.Status != fwdconfig.StatusFailed && st.PID != c.pid && c.ownerAlive(st.PID) {
			if localapi.PathsIn(filepath.Dir(c.st.Path())).ReadPID() == st.PID {
				return fmt.Errorf("%s is already forwarded by the kftray daemon (pid %d, %s); stop it there first with 'kftray stop %s'",
					cfg.Name(), st.PID, st.Status, ref(cfg))
			}
			return fmt.Errorf("%s is already forwarded by kftray process %d (%s), probably 'kftray run'; stop that first (Ctrl-C)",
				cfg.Name(), st.PID, st.Status)
		}
	}
	return nil
}

// ownerAlive reports whether the process pid, which owns a state row, still
// runs: this process does; the previous daemon does not (we hold its lock);
// any other must exist and not be a zombie (a killed daemon or `kftray run`
// whose parent has not reaped it yet).
func (c *Core) ownerAlive(pid int) bool {
	switch {
	case pid == c.pid:
		return true
	case pid <= 0 || pid == c.deadDaemon:
		return false
	}
	return proc.Alive(pid)
}

// ref is how a user names cfg on the command line.
func ref(cfg fwdconfig.Config) string {
	if cfg.Alias != "" {
		return cfg.Alias
	}
	return strconv.FormatInt(cfg.ID, 10)
}
