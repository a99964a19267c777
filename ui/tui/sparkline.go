package tui

import (
	"strings"
	"time"
)

// sparkWidth is how many seconds a sparkline shows, one cell each.
const sparkWidth = 8

var sparkBars = []rune("▁▂▃▄▅▆▇█")

// traffic keeps a forward's throughput per second, from the deltas of its
// byte counters between events (the daemon sends counters at most once a
// second while they move, and nothing while they do not).
type traffic struct {
	last    int64 // bytes both ways at the last event
	seen    bool
	buckets [sparkWidth]struct {
		sec   int64 // unix second
		bytes int64
	}
}

// observe records the counters total (bytes both ways) seen at now.
func (t *traffic) observe(now time.Time, total int64) {
	if !t.seen || total < t.last {
		// First sight, or the counters restarted with the forward: no
		// delta to attribute.
		t.last, t.seen = total, true
		return
	}
	d := total - t.last
	t.last = total
	if d == 0 {
		return
	}
	sec := now.Unix()
	b := &t.buckets[sec%sparkWidth]
	if b.sec != sec {
		b.sec, b.bytes = sec, 0
	}
	b.bytes += d
}

// rate returns the bytes per second of each of the last sparkWidth
// seconds up to now, oldest first.
func (t *traffic) rate(now time.Time) [sparkWidth]int64 {
	var out [sparkWidth]int64
	end := now.Unix()
	for i := range sparkWidth {
		sec := end - int64(sparkWidth-1-i)
		if b := t.buckets[sec%sparkWidth]; b.sec == sec {
			out[i] = b.bytes
		}
	}
	return out
}

// sparkline renders rates as bars scaled to their maximum; a second with
// no traffic is a space, so an idle forward shows nothing.
func sparkline(rates [sparkWidth]int64) string {
	var peak int64
	for _, r := range rates {
		peak = max(peak, r)
	}
	var b strings.Builder
	for _, r := range rates {
		if r == 0 || peak == 0 {
			b.WriteByte(' ')
			continue
		}
		i := int((r*int64(len(sparkBars)) - 1) / peak)
		b.WriteRune(sparkBars[min(max(i, 0), len(sparkBars)-1)])
	}
	return b.String()
}
