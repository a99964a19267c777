// Package udpbench measures a UDP echo path: round-trip latency, windowed
// throughput and loss at a fixed send rate. The UDP forward benchmarks use it
// on a direct path (the limit) and through the relay, so the numbers compare.
package udpbench

import (
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Dial connects to an echo address and waits until an echo comes back (the
// first datagram through a relay opens its flow).
func Dial(addr string) (*net.UDPConn, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	u := c.(*net.UDPConn)
	u.SetReadBuffer(4 << 20)
	u.SetWriteBuffer(4 << 20)
	buf := make([]byte, 2048)
	for range 100 {
		u.Write([]byte("warmup"))
		u.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := u.Read(buf); err == nil {
			u.SetReadDeadline(time.Time{})
			return u, nil
		}
	}
	u.Close()
	return nil, fmt.Errorf("no echo from %s", addr)
}

// LatencyResult is the outcome of Latency.
type LatencyResult struct {
	P50, P99 time.Duration
	Lost     int
}

// Latency sends n 64-byte requests one at a time and times each echo.
func Latency(c *net.UDPConn, n int) LatencyResult {
	req, buf := make([]byte, 64), make([]byte, 2048)
	rtts := make([]time.Duration, 0, n)
	lost := 0
	for range n {
		start := time.Now()
		c.Write(req)
		c.SetReadDeadline(start.Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			lost++
			continue
		}
		rtts = append(rtts, time.Since(start))
	}
	c.SetReadDeadline(time.Time{})
	slices.Sort(rtts)
	var r LatencyResult
	r.Lost = lost
	if len(rtts) > 0 {
		r.P50, r.P99 = rtts[len(rtts)/2], rtts[len(rtts)*99/100]
	}
	return r
}

// Throughput echoes n datagrams of size bytes with up to window in flight
// and returns echoes per second and how often the window stalled (loss).
func Throughput(c *net.UDPConn, n, size, window int) (pps float64, stalls int) {
	req, buf := make([]byte, size), make([]byte, 2048+size)
	inFlight, got := 0, 0
	start := time.Now()
	for got < n {
		for inFlight < window {
			c.Write(req)
			inFlight++
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			stalls++
			inFlight = 0 // what is in flight is lost; refill the window
			continue
		}
		inFlight--
		got++
	}
	pps = float64(got) / time.Since(start).Seconds()
	// Drain late echoes so the next measurement starts clean.
	for {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	c.SetReadDeadline(time.Time{})
	return pps, stalls
}

// FixedRate sends n datagrams of size bytes open-loop at rate per second and
// returns the rate achieved and the share of echoes that never came back.
func FixedRate(c *net.UDPConn, n, size, rate int) (sentPPS, lossPct float64) {
	var recv atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048+size)
		for {
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := c.Read(buf); err != nil {
				return // quiet for 500 ms after the last send
			}
			recv.Add(1)
		}
	}()
	req := make([]byte, size)
	perTick := max(rate/1000, 1)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for sent < n {
		<-tick.C
		// Catch up to the schedule, so a late tick does not lower the rate.
		due := min(int(time.Since(start).Seconds()*float64(rate))+perTick, n)
		for ; sent < due; sent++ {
			c.Write(req)
		}
	}
	elapsed := time.Since(start)
	<-done
	c.SetReadDeadline(time.Time{})
	return float64(sent) / elapsed.Seconds(), 100 * (1 - float64(recv.Load())/float64(sent))
}

// Run reports, as sub-benchmarks of b named after the path, latency
// (64-byte ping-pong: p50/p99), throughput (512-byte datagrams, 32 in
// flight) and loss at fixed rates of 512-byte datagrams.
func Run(b *testing.B, name string, c *net.UDPConn) {
	b.Run("latency/"+name, func(b *testing.B) {
		r := Latency(c, b.N)
		b.ReportMetric(float64(r.P50.Microseconds()), "p50-µs")
		b.ReportMetric(float64(r.P99.Microseconds()), "p99-µs")
		b.ReportMetric(float64(r.Lost), "lost")
	})
	b.Run("throughput/"+name, func(b *testing.B) {
		pps, stalls := Throughput(c, b.N, 512, 32)
		b.ReportMetric(pps, "pkts/s")
		b.ReportMetric(float64(stalls), "stalls")
	})
	for _, rate := range []int{10000, 30000} {
		b.Run(fmt.Sprintf("rate%d/%s", rate, name), func(b *testing.B) {
			sent, loss := FixedRate(c, b.N, 512, rate)
			b.ReportMetric(sent, "sent-pkts/s")
			b.ReportMetric(loss, "loss-%")
		})
	}
}
