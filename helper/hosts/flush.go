package hosts

import (
	"context"
	"sync"
	"time"
)

// FlushInterval is the least time between two DNS cache flushes of one
// helper process.
const FlushInterval = 2 * time.Second

// Flusher runs a DNS cache flush at most once per interval. The first
// request runs at once; requests inside the interval after a flush are not
// dropped but share one flush at its end, so a burst of SetHosts costs one
// root process, not one each.
type Flusher struct {
	run      func(context.Context) error
	interval time.Duration
	now      func() time.Time
	after    func(time.Duration, func())

	mu      sync.Mutex
	last    time.Time
	pending bool
}

// NewFlusher rate-limits run (FlushDNS in the helper).
func NewFlusher(run func(context.Context) error, interval time.Duration) *Flusher {
	return &Flusher{run: run, interval: interval, now: time.Now,
		after: func(d time.Duration, fn func()) { time.AfterFunc(d, fn) }}
}

// Flush flushes now, or makes sure one flush happens when the interval
// since the last one ends.
func (f *Flusher) Flush(ctx context.Context) error {
	f.mu.Lock()
	if f.pending {
		f.mu.Unlock()
		return nil // the scheduled flush runs after this change was written
	}
	now := f.now()
	if f.last.IsZero() || now.Sub(f.last) >= f.interval {
		f.last = now
		f.mu.Unlock()
		return f.run(ctx)
	}
	f.pending = true
	wait := f.last.Add(f.interval).Sub(now)
	f.mu.Unlock()
	f.after(wait, func() {
		f.mu.Lock()
		f.pending = false
		f.last = f.now()
		f.mu.Unlock()
		_ = f.run(context.Background()) // best effort, like every flush
	})
	return nil
}
