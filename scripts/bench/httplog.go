package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"
)

// httpLog measures the same kftray forward (WebSocket) with HTTP logging
// off and on, side by side: keep-alive request rate on 1 and 32
// connections and one bulk HTTP download, each measured off, on, off, on
// so that drifts in the machine's load fall on both.
func (b *bench) httpLog(rep int) error {
	dir := filepath.Join(b.tmp, "http_logs")
	set := func(on bool) (map[string]string, error) {
		r, err := b.eng.do(engineCmd{Cmd: "httplog", ID: idWebHTTP, On: on, Path: dir}, 30*time.Second)
		if err == nil && r.Err != "" {
			err = fmt.Errorf("%s", r.Err)
		}
		return r.Extra, err
	}
	addr := b.http[tKftrayWS]
	type run struct {
		key  string
		what func() (float64, error)
	}
	runs := []run{
		{"hl_ka1", func() (float64, error) { v, _, err := keepAlive(addr, 1, b.p.kaDur); return v, err }},
		{"hl_ka32", func() (float64, error) { v, _, err := keepAlive(addr, 32, b.p.kaDur); return v, err }},
		{"hl_bulk", func() (float64, error) { return httpDownload(addr, b.p.bulkSize) }},
	}
	for _, r := range runs {
		var off, on float64
		for i, logging := range []bool{false, true, false, true} {
			if _, err := set(logging); err != nil {
				return err
			}
			v, err := r.what()
			if err != nil {
				return fmt.Errorf("%s (logging %v): %w", r.key, logging, err)
			}
			if logging {
				on += v
				b.res.add(r.key+"_on", tKftrayWS, v)
			} else {
				off += v
				b.res.add(r.key+"_off", tKftrayWS, v)
			}
			progress("rep %d http log %-8s pass %d logging %-5v %10.1f", rep, r.key, i+1, logging, v)
		}
		b.res.add(r.key+"_ratio", tKftrayWS, on/off)
	}
	st, err := set(false)
	if err != nil {
		return err
	}
	for _, k := range []string{"exchanges", "dropped_conns", "errors"} {
		if n, err := strconv.ParseFloat(st[k], 64); err == nil {
			b.res.add("hl_"+k, tKftrayWS, n)
		}
	}
	progress("rep %d http log: %s exchanges logged, %s connections dropped, %s parse errors", rep, st["exchanges"], st["dropped_conns"], st["errors"])
	return nil
}

// httpDownload GETs size bytes (/bytes?n=) on one connection; MiB/s.
func httpDownload(addr string, size int64) (float64, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5*time.Minute + time.Duration(size/mib)*time.Second))
	start := time.Now()
	if _, err := fmt.Fprintf(c, "GET /bytes?n=%d HTTP/1.1\r\nHost: bench\r\n\r\n", size); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256<<10), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size {
		return 0, fmt.Errorf("got %d of %d bytes: %v", n, size, err)
	}
	return float64(size) / mib / time.Since(start).Seconds(), nil
}
