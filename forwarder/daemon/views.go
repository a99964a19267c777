package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/proc"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// The API's pictures of forwards. A forward this process runs is shown
// live (its engine state, counters included); one it ran and that failed
// or stopped here, as it last saw it; any other, from the store, where the
// process that runs it (or ran it last) wrote it.

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
	desired, err := c.desired.get(ctx)
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
	if s, ok := c.states.last(cfg.ID); ok && (st == nil || st.PID == c.pid) {
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
	desired, err := c.desired.get(ctx)
	if err != nil {
		return localapi.Forward{}, err
	}
	envs, err := c.kube.recorded(ctx)
	if err != nil {
		return localapi.Forward{}, err
	}
	return withRecordedKube(c.forwardView(cfg, sp, desired[cfg.ID]), envs), nil
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
	desired, err := (&desiredSet{st: st, log: zerolog.Nop()}).get(ctx)
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
