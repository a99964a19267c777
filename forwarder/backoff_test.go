package forwarder

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{}
	for _, tc := range []struct {
		attempt int
		base    time.Duration // before jitter: the delay is in [base/2, base]
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{5, 1600 * time.Millisecond},
		{9, 25600 * time.Millisecond},
		{10, 30 * time.Second}, // capped
		{50, 30 * time.Second},
	} {
		for i := 0; i < 100; i++ {
			d := b.Delay(tc.attempt)
			if d < tc.base/2 || d > tc.base {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", tc.attempt, d, tc.base/2, tc.base)
			}
		}
	}
}
