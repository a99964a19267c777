package forwarder

import (
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential backoff with jitter.
type Backoff struct {
	Initial    time.Duration // first delay; default 100 ms
	Max        time.Duration // cap; default 30 s
	ResetAfter time.Duration // a connection up this long resets the count; default 30 s
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 100 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = 30 * time.Second
	}
	return b
}

// Delay is the wait before attempt n (1-based): Initial·2^(n-1), capped,
// then jittered to [d/2, d) so many forwards do not redial in lockstep.
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + rand.N(half+1)
}
