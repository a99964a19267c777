package hosts

import (
	"context"
	"testing"
	"time"
)

// fakeTimers is a clock the test moves by hand, with the callbacks
// Flusher scheduled.
type fakeTimers struct {
	now time.Time
	due []struct {
		at time.Time
		fn func()
	}
}

func (c *fakeTimers) advance(d time.Duration) {
	c.now = c.now.Add(d)
	var left []struct {
		at time.Time
		fn func()
	}
	due := c.due
	c.due = nil
	for _, t := range due {
		if !t.at.After(c.now) {
			t.fn()
		} else {
			left = append(left, t)
		}
	}
	c.due = append(left, c.due...)
}

func TestFlusherRateLimitsAndCoalesces(t *testing.T) {
	clock := &fakeTimers{now: time.Unix(1_000_000, 0)}
	runs := 0
	f := NewFlusher(func(context.Context) error { runs++; return nil }, 2*time.Second)
	f.now = func() time.Time { return clock.now }
	f.after = func(d time.Duration, fn func()) {
		clock.due = append(clock.due, struct {
			at time.Time
			fn func()
		}{clock.now.Add(d), fn})
	}
	ctx := context.Background()

	f.Flush(ctx)
	if runs != 1 || len(clock.due) != 0 {
		t.Fatalf("first flush: %d runs, %d scheduled; want it at once", runs, len(clock.due))
	}
	// A burst inside the interval: nothing now, one flush at its end.
	for range 100 {
		clock.advance(5 * time.Millisecond)
		f.Flush(ctx)
	}
	if runs != 1 || len(clock.due) != 1 {
		t.Fatalf("burst: %d runs, %d scheduled; want 1 run and 1 scheduled", runs, len(clock.due))
	}
	clock.advance(2 * time.Second)
	if runs != 2 || len(clock.due) != 0 {
		t.Fatalf("end of interval: %d runs, %d scheduled; want the coalesced flush", runs, len(clock.due))
	}
	// Right after the coalesced flush, a new change waits for its own
	// interval; after a quiet interval, a flush runs at once again.
	f.Flush(ctx)
	if runs != 2 || len(clock.due) != 1 {
		t.Fatalf("after the coalesced flush: %d runs, %d scheduled", runs, len(clock.due))
	}
	clock.advance(2 * time.Second)
	clock.advance(10 * time.Second)
	f.Flush(ctx)
	if runs != 4 || len(clock.due) != 0 {
		t.Fatalf("after a quiet interval: %d runs, %d scheduled; want 4 and none", runs, len(clock.due))
	}
	// Over 60 s of constant requests, 1 per 2 s at most.
	start := runs
	for range 6000 {
		clock.advance(10 * time.Millisecond)
		f.Flush(ctx)
	}
	if n := runs - start; n > 30 || n < 29 {
		t.Fatalf("60 s of requests every 10 ms ran %d flushes, want 30 (one per 2 s)", n)
	}
}
