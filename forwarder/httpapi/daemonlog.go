package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kftray-go/kftray/localapi"
)

// Bounds of a daemon log read: only the file's last maxLogRead bytes are
// read for the tail, and a follower reads at most maxLogRead per poll.
const (
	maxLogRead = 4 << 20
	maxLogLine = 256 << 10 // longer lines are cut
)

// logFilter is a parsed daemon log query.
type logFilter struct {
	minRank int // lines below are left out; -1 keeps all
	tail    int
}

func parseLogQuery(r *http.Request) (logFilter, error) {
	q := r.URL.Query()
	f := logFilter{minRank: -1, tail: localapi.DefaultLogTail}
	if lv := strings.ToLower(strings.TrimSpace(q.Get("level"))); lv != "" {
		f.minRank = slices.Index(localapi.LogLevels, lv)
		if f.minRank < 0 {
			return f, fmt.Errorf("level %q is not one of %s", lv, strings.Join(localapi.LogLevels, ", "))
		}
	}
	if t := q.Get("tail"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > localapi.MaxLogTail {
			return f, fmt.Errorf("tail %q is not a number of lines in 1..%d", t, localapi.MaxLogTail)
		}
		f.tail = n
	}
	return f, nil
}

func (f logFilter) keep(l localapi.LogLine) bool {
	// Lines that are not JSON (a crash's output) have no level: always shown.
	return l.Level == "" || f.minRank < 0 || slices.Index(localapi.LogLevels, l.Level) >= f.minRank
}

// parseLogLine reads one line of daemon.log (zerolog JSON).
func parseLogLine(b []byte) localapi.LogLine {
	if len(b) > maxLogLine {
		b = b[:maxLogLine]
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m == nil {
		return localapi.LogLine{Message: string(b)}
	}
	l := localapi.LogLine{}
	if v, ok := m["level"].(string); ok {
		l.Level = v
		delete(m, "level")
	} else {
		l.Level = "info" // zerolog writes no level for Log()
	}
	if v, ok := m["message"].(string); ok {
		l.Message = v
		delete(m, "message")
	}
	switch v := m["time"].(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			l.Time = t
			delete(m, "time")
		}
	case float64: // zerolog.TimeFormatUnix
		l.Time = time.Unix(int64(v), 0)
		delete(m, "time")
	}
	if len(m) > 0 {
		l.Fields = m
	}
	return l
}

// readLogTail returns the last matching lines of the file at path and the
// offset just past the last complete line read.
func readLogTail(path string, f logFilter) ([]localapi.LogLine, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, 0, err
	}
	start := max(0, fi.Size()-maxLogRead)
	buf := make([]byte, fi.Size()-start)
	n, err := fh.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	buf = buf[:n]
	if start > 0 {
		// The first line is only the end of one.
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf, start = buf[i+1:], start+int64(i+1)
		} else {
			buf = nil
		}
	}
	end := bytes.LastIndexByte(buf, '\n') + 1 // a partial last line is read by the follower
	var out []localapi.LogLine
	for line := range bytes.SplitSeq(buf[:end], []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if l := parseLogLine(line); f.keep(l) {
			out = append(out, l)
		}
	}
	if len(out) > f.tail {
		out = out[len(out)-f.tail:]
	}
	return out, start + int64(end), nil
}

func (s *Server) daemonLog(w http.ResponseWriter, r *http.Request) {
	f, err := parseLogQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	path := s.b.LogPath()
	lines, off, err := readLogTail(path, f)
	if errors.Is(err, fs.ErrNotExist) {
		lines, err = nil, nil // nothing logged yet
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("reading the daemon log %s: %w", path, err))
		return
	}
	if follow := r.URL.Query().Get("follow"); follow == "" || follow == "0" || follow == "false" {
		if lines == nil {
			lines = []localapi.LogLine{}
		}
		writeJSON(w, http.StatusOK, lines)
		return
	}
	s.followLog(w, r, path, f, lines, off)
}

// followLog streams lines as server-sent events ("log"): first the tail,
// then each new line, polling the file. A file that shrank or was replaced
// (rotation) is read again from its start.
func (s *Server) followLog(w http.ResponseWriter, r *http.Request, path string, f logFilter, lines []localapi.LogLine, off int64) {
	fl, ok := flusher(w)
	if !ok {
		return
	}
	beginSSE(w)
	send := func(l localapi.LogLine) error { return writeSSE(w, "log", l) }
	for _, l := range lines {
		if send(l) != nil {
			return
		}
	}
	fl.Flush()
	var (
		ident   os.FileInfo // the file read so far, to notice a replacement
		partial lineBuffer  // a line not yet ended
	)
	if fi, err := os.Stat(path); err == nil {
		ident = fi
	}
	poll := time.NewTicker(s.opts.LogPoll)
	defer poll.Stop()
	keep := time.NewTicker(s.opts.KeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-keep.C:
			if keepAlive(w) != nil {
				return
			}
			fl.Flush()
			continue
		case <-poll.C:
		}
		fi, err := os.Stat(path)
		if err != nil {
			continue // not there (yet, again)
		}
		if ident == nil || !os.SameFile(ident, fi) || fi.Size() < off {
			ident, off, partial = fi, 0, lineBuffer{}
		}
		if fi.Size() == off {
			continue
		}
		data, err := readRange(path, off, min(fi.Size()-off, maxLogRead))
		if err != nil {
			continue
		}
		off += int64(len(data))
		complete := partial.feed(data)
		sent := false
		for _, line := range complete {
			if l := parseLogLine(line); f.keep(l) {
				if send(l) != nil {
					return
				}
				sent = true
			}
		}
		if sent {
			fl.Flush()
		}
	}
}

func readRange(path string, off, n int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	buf := make([]byte, n)
	m, err := fh.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:m], nil
}

// lineBuffer joins what a follower reads into whole lines: a line whose
// end has not been written yet waits for the next read. A line longer
// than maxLogLine is dropped rather than grow the buffer.
type lineBuffer struct {
	rest     []byte
	skipping bool // inside a dropped runaway line
}

// feed adds data and returns the lines it completed, empty ones left out.
func (b *lineBuffer) feed(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if !b.skipping {
				b.rest = append(b.rest, data...)
				if len(b.rest) > maxLogLine {
					b.rest, b.skipping = nil, true
				}
			}
			return out
		}
		if !b.skipping {
			line := append(b.rest, data[:i]...)
			if len(bytes.TrimSpace(line)) > 0 {
				out = append(out, line)
			}
		}
		b.rest, b.skipping, data = nil, false, data[i+1:]
	}
	return out
}
