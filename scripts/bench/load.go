package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Load generators. Each talks raw TCP/HTTP/1.1 to an address, so that the
// same client code measures the direct backend, kubectl and kftray.

const mib = 1 << 20

// bulkEcho writes size bytes to a TCP echo server over one connection while
// reading them back; it returns MiB/s each way.
func bulkEcho(addr string, size int64) (float64, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// A stall must fail the measurement, not hang the run.
	_ = c.SetDeadline(time.Now().Add(5*time.Minute + time.Duration(size/mib)*time.Second))
	chunk := make([]byte, 256<<10)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		left := size
		for left > 0 {
			n := min(left, int64(len(chunk)))
			if _, err := c.Write(chunk[:n]); err != nil {
				werr <- err
				return
			}
			left -= n
		}
		werr <- nil
	}()
	buf := make([]byte, 256<<10)
	var got int64
	for got < size {
		n, err := c.Read(buf)
		got += int64(n)
		if err != nil {
			return 0, fmt.Errorf("read after %d of %d bytes: %w", got, size, err)
		}
	}
	el := time.Since(start)
	if err := <-werr; err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	return float64(size) / mib / el.Seconds(), nil
}

var getRoot = []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")

// get sends one GET / on c and reads the whole response.
func get(c net.Conn, r *bufio.Reader, req []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return err
}

// newConnLatency makes n sequential connections, each one connect + GET /
// + the whole small response, and returns each one's duration.
func newConnLatency(addr string, n int) ([]time.Duration, int, error) {
	out := make([]time.Duration, 0, n)
	failures := 0
	var lastErr error
	for range n {
		start := time.Now()
		err := func() error {
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			return get(c, bufio.NewReaderSize(c, 4096), getRoot)
		}()
		if err != nil {
			failures++
			lastErr = err
			if failures > n/10 {
				return out, failures, fmt.Errorf("%d of %d connections failed, last: %w", failures, len(out)+failures, err)
			}
			continue
		}
		out = append(out, time.Since(start))
	}
	if failures > 0 {
		return out, failures, lastErr
	}
	return out, 0, nil
}

// keepAlive runs conns connections for d, each sending GET / requests one
// after another on its one connection; it returns requests per second and
// every request's latency.
func keepAlive(addr string, conns int, d time.Duration) (float64, []time.Duration, error) {
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	ready := make(chan struct{})
	var startAt time.Time
	stopAt := make(chan struct{})
	// Connect every client first: this measures request rate, not setup.
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			for _, c := range cs[:i] {
				c.Close()
			}
			return 0, nil, err
		}
		cs[i] = c
	}
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			r := bufio.NewReaderSize(c, 4096)
			local := make([]time.Duration, 0, 4096)
			<-ready
			for {
				select {
				case <-stopAt:
					mu.Lock()
					lats = append(lats, local...)
					mu.Unlock()
					return
				default:
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				t := time.Now()
				if err := get(c, r, getRoot); err != nil {
					mu.Lock()
					errs = append(errs, err)
					lats = append(lats, local...)
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t))
			}
		}()
	}
	startAt = time.Now()
	close(ready)
	time.Sleep(d)
	close(stopAt)
	el := time.Since(startAt)
	wg.Wait()
	if len(errs) > 0 {
		return 0, lats, fmt.Errorf("%d of %d connections failed: %w", len(errs), conns, errs[0])
	}
	return float64(len(lats)) / el.Seconds(), lats, nil
}

// concurrent starts n connections at once, each downloading size bytes
// (GET /bytes); it returns the total time, each completed connection's time
// and how many failed.
func concurrent(addr string, n int, size int64) (time.Duration, []time.Duration, int, error) {
	var (
		mu    sync.Mutex
		times []time.Duration
		fails int
		first error
		wg    sync.WaitGroup
	)
	req := fmt.Appendf(nil, "GET /bytes?n=%d HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", size)
	gate := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t := time.Now()
			err := func() error {
				c, err := net.DialTimeout("tcp", addr, 30*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
				if _, err := c.Write(req); err != nil {
					return err
				}
				resp, err := http.ReadResponse(bufio.NewReaderSize(c, 64<<10), nil)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				got, err := io.Copy(io.Discard, resp.Body)
				if err == nil && got != size {
					err = fmt.Errorf("got %d of %d bytes", got, size)
				}
				return err
			}()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails++
				if first == nil {
					first = err
				}
				return
			}
			times = append(times, time.Since(t))
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	total := time.Since(start)
	if fails > 0 {
		return total, times, fails, fmt.Errorf("%d of %d connections failed, first: %w", fails, n, first)
	}
	return total, times, 0, nil
}

// whoami asks an HTTP backend which pod answers, on a new connection.
func whoami(ctx context.Context, addr string) (string, error) {
	d := net.Dialer{}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}
