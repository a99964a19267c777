package daemon

import (
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/store"
)

// liveStates is what this process's forwards last reported, and its
// writer to the store, where every interface reads it. The engine's
// observer must not block a forward, so it only records a change and kicks
// the writer; one flush at a time writes what is pending, then publishes
// it.
type liveStates struct {
	st      *store.Store
	pid     int
	log     zerolog.Logger
	publish func(forwarder.State) // after a state is written: the API's event

	mu      sync.Mutex
	live    map[int64]forwarder.State // latest state per forward
	pending map[int64]bool            // states not yet written
	written map[int64]forwarder.State // last state written, for counter changes

	writeMu sync.Mutex // one flush at a time, so writes keep their order
	kick    chan struct{}
}

func newLiveStates(st *store.Store, pid int, log zerolog.Logger, publish func(forwarder.State)) *liveStates {
	return &liveStates{st: st, pid: pid, log: log, publish: publish,
		live: map[int64]forwarder.State{}, pending: map[int64]bool{}, written: map[int64]forwarder.State{},
		kick: make(chan struct{}, 1)}
}

// observe is the engine's callback.
func (l *liveStates) observe(s forwarder.State) {
	l.mu.Lock()
	l.live[s.ID] = s
	l.pending[s.ID] = true
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// last is the state forward id reported last, if it reported any.
func (l *liveStates) last(id int64) (forwarder.State, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.live[id]
	return s, ok
}

// forget drops what is known of forwards that no longer concern this
// process (stopped and settled, or their config deleted).
func (l *liveStates) forget(ids ...int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		delete(l.live, id)
		delete(l.pending, id)
		delete(l.written, id)
	}
}

// sample marks forwards whose counters moved since the last write; states
// are the engine's snapshots.
func (l *liveStates) sample(states []forwarder.State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range states {
		w, ok := l.written[s.ID]
		if !ok || w.ActiveConns != s.ActiveConns || w.TotalConns != s.TotalConns ||
			w.BytesToPod != s.BytesToPod || w.BytesFromPod != s.BytesFromPod || w.Reconnects != s.Reconnects {
			// Keep the phase the observer reported last; counters are fresher here.
			if lv, ok := l.live[s.ID]; ok && lv.Phase != s.Phase {
				continue
			}
			l.live[s.ID] = s
			l.pending[s.ID] = true
		}
	}
}

// flush writes every pending state to the store and publishes it.
func (l *liveStates) flush(ctx context.Context) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	var todo []forwarder.State
	for id := range l.pending {
		todo = append(todo, l.live[id])
	}
	clear(l.pending)
	l.mu.Unlock()
	sort.Slice(todo, func(i, j int) bool { return todo[i].ID < todo[j].ID })
	for _, s := range todo {
		// Starting is written too (as retrying, attempt 0): the row claims
		// the forward for this process at once, so no other process
		// starts it meanwhile.
		st := toStore(s, l.pid)
		if err := l.st.PutState(ctx, &st); err != nil {
			// A config deleted while it ran has no row to write to.
			lvl := zerolog.WarnLevel
			if errors.Is(err, fwdconfig.ErrNotFound) {
				lvl = zerolog.DebugLevel
			}
			l.log.WithLevel(lvl).Err(err).Int64("config", s.ID).Msg("writing forward state")
		}
		l.mu.Lock()
		l.written[s.ID] = s
		l.mu.Unlock()
		l.publish(s)
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
