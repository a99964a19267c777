package udprelay_test

import (
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kftray-go/kftray/forwarder/udprelay"
)

// The UDP benchmarks compare a UDP echo server reached directly (the limit)
// with the same server reached through udprelay.Client -> loopback TCP ->
// kftray-server. Run:
//
//	go test -run '^$' -bench . -benchtime 20000x ./forwarder/udprelay/

func benchTargets(b *testing.B) []struct{ name, addr string } {
	echoPort := startUDPUpstream(b, echo)
	w := newWorld(b, echo, udprelay.Options{})
	return []struct{ name, addr string }{
		{"direct", fmt.Sprintf("127.0.0.1:%d", echoPort)},
		{"relay", w.local},
	}
}

func dialBench(b *testing.B, addr string) *net.UDPConn {
	c, err := net.Dial("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	u := c.(*net.UDPConn)
	u.SetReadBuffer(4 << 20)
	u.SetWriteBuffer(4 << 20)
	// Warm up: the first datagram through the relay opens the flow.
	buf := make([]byte, 2048)
	for range 50 {
		u.Write([]byte("warmup"))
		u.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := u.Read(buf); err == nil {
			u.SetReadDeadline(time.Time{})
			return u
		}
	}
	b.Fatalf("no echo from %s", addr)
	return nil
}

// BenchmarkLatency: one 64-byte request, wait for its echo; p50/p99 RTT.
func BenchmarkLatency(b *testing.B) {
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			c := dialBench(b, tg.addr)
			req, buf := make([]byte, 64), make([]byte, 2048)
			rtts := make([]time.Duration, 0, b.N)
			lost := 0
			for b.Loop() {
				start := time.Now()
				c.Write(req)
				c.SetReadDeadline(start.Add(time.Second))
				if _, err := c.Read(buf); err != nil {
					lost++
					continue
				}
				rtts = append(rtts, time.Since(start))
			}
			slices.Sort(rtts)
			if len(rtts) > 0 {
				b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
			}
			b.ReportMetric(float64(lost), "lost")
		})
	}
}

// BenchmarkThroughput: 512-byte datagrams with up to 32 in flight; packets
// per second echoed back.
func BenchmarkThroughput(b *testing.B) {
	const window = 32
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			c := dialBench(b, tg.addr)
			req, buf := make([]byte, 512), make([]byte, 2048)
			inFlight, got, timeouts := 0, 0, 0
			start := time.Now()
			b.ResetTimer()
			for got < b.N {
				for inFlight < window {
					c.Write(req)
					inFlight++
				}
				c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Read(buf); err != nil {
					timeouts++
					inFlight = 0 // what is in flight is lost; refill the window
					continue
				}
				inFlight--
				got++
			}
			b.ReportMetric(float64(got)/time.Since(start).Seconds(), "pkts/s")
			b.ReportMetric(float64(timeouts), "stalls")
		})
	}
}

// BenchmarkFixedRate: 512-byte datagrams sent open-loop at a fixed rate;
// the share that never comes back is the loss.
func BenchmarkFixedRate(b *testing.B) {
	targets := benchTargets(b)
	for _, rate := range []int{10000, 50000} {
		for _, tg := range targets {
			b.Run(fmt.Sprintf("%s/%dpps", tg.name, rate), func(b *testing.B) {
				c := dialBench(b, tg.addr)
				var recv atomic.Int64
				done := make(chan struct{})
				go func() {
					defer close(done)
					buf := make([]byte, 2048)
					for {
						c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
						if _, err := c.Read(buf); err != nil {
							return // quiet for 500ms after the last send
						}
						recv.Add(1)
					}
				}()
				req := make([]byte, 512)
				perTick := max(rate/1000, 1)
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				start := time.Now()
				sent := 0
				b.ResetTimer()
				for sent < b.N {
					<-tick.C
					// Catch up to the schedule, so a slow tick does not lower the rate.
					due := min(int(time.Since(start).Seconds()*float64(rate))+perTick, b.N)
					for ; sent < due; sent++ {
						c.Write(req)
					}
				}
				elapsed := time.Since(start)
				<-done
				b.StopTimer()
				b.ReportMetric(float64(sent)/elapsed.Seconds(), "sent-pkts/s")
				b.ReportMetric(100*(1-float64(recv.Load())/float64(sent)), "loss-%")
			})
		}
	}
}
