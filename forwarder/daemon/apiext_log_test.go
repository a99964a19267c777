package daemon

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/localapi"
)

// TestDaemonLogThroughTheAPI: the tail of daemon.log parsed and filtered
// by level, and a follower that sees new lines (a line written in two
// pieces once, complete), not lines below its level, and a replaced file
// from its start.
func TestDaemonLogThroughTheAPI(t *testing.T) {
	dir := shortDir(t)
	path := localapi.PathsIn(dir).Log
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log := zerolog.New(f).With().Timestamp().Int("pid", 42).Logger()
	log.Info().Msg("daemon started")
	log.Debug().Msg("noise")
	log.Warn().Int("relays", 2).Msg("found relays left by an earlier kftray daemon")
	f.WriteString("panic: boom\n") // a crash's output, not JSON
	log.Error().Str("error", "no route").Msg("restoring forwards")

	c, _ := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine()})
	ctx := context.Background()

	lines, err := c.DaemonLog(ctx, localapi.LogQuery{Level: "warn"})
	if err != nil || len(lines) != 3 {
		t.Fatalf("warn and up: %+v %v; want the warning, the crash line and the error", lines, err)
	}
	w := lines[0]
	if w.Level != "warn" || w.Message != "found relays left by an earlier kftray daemon" || w.Fields["relays"] != float64(2) ||
		w.Fields["pid"] != float64(42) || time.Since(w.Time) > time.Hour || w.Fields["time"] != nil {
		t.Fatalf("the warning: %+v", w)
	}
	if lines[1].Level != "" || lines[1].Message != "panic: boom" || lines[2].Fields["error"] != "no route" {
		t.Fatalf("the crash line and the error: %+v", lines[1:])
	}
	if lines, err := c.DaemonLog(ctx, localapi.LogQuery{Tail: 2}); err != nil || len(lines) != 2 || lines[1].Message != "restoring forwards" {
		t.Fatalf("tail 2: %+v %v", lines, err)
	}
	if all, err := c.DaemonLog(ctx, localapi.LogQuery{}); err != nil || len(all) != 5 {
		t.Fatalf("every line: %+v %v", all, err)
	}
	for _, q := range []localapi.LogQuery{{Level: "loud"}, {Tail: localapi.MaxLogTail + 1}, {Tail: -1}} {
		if _, err := c.DaemonLog(ctx, q); statusCode(err) != http.StatusBadRequest {
			t.Errorf("query %+v: %v; want 400", q, err)
		}
	}

	fctx, stop := context.WithCancel(ctx)
	defer stop()
	got := make(chan localapi.LogLine, 16)
	done := make(chan error, 1)
	go func() {
		done <- c.FollowDaemonLog(fctx, localapi.LogQuery{Level: "info", Tail: 1}, func(l localapi.LogLine) error {
			got <- l
			return nil
		})
	}()
	next := func(what string) localapi.LogLine {
		t.Helper()
		select {
		case l := <-got:
			return l
		case err := <-done:
			t.Fatalf("the follower ended waiting for %s: %v", what, err)
		case <-time.After(15 * time.Second):
			t.Fatalf("no %s from the follower within 15s", what)
		}
		return localapi.LogLine{}
	}
	if l := next("tail line"); l.Message != "restoring forwards" {
		t.Fatalf("first line followed: %+v, want the last line of the file", l)
	}
	// A line in two writes arrives once, whole (TestLineBuffer cuts it
	// between reads); a debug line does not arrive.
	log.Debug().Msg("not at info")
	f.WriteString(`{"level":"info","message":"half`)
	f.Sync()
	f.WriteString(` and half"}` + "\n")
	if l := next("the line written in two pieces"); l.Message != "half and half" || l.Level != "info" {
		t.Fatalf("got %+v, want the whole line", l)
	}
	// The file replaced (as at rotation): the new one is read from its start.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	nf, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	nlog := zerolog.New(nf)
	nlog.Info().Msg("a new daemon")
	if l := next("a line of the new file"); l.Message != "a new daemon" {
		t.Fatalf("got %+v after the file was replaced", l)
	}
	stop()
	select {
	case err := <-done:
		if err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("follower ended with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the follower did not end with its context")
	}
}

// TestDaemonLogFollowerEndsWithTheDaemon: a follower's stream ends when
// the daemon stops (the HTTP server's shutdown alone would wait for it).
func TestDaemonLogFollowerEndsWithTheDaemon(t *testing.T) {
	dir := shortDir(t)
	if err := os.WriteFile(localapi.PathsIn(dir).Log, []byte(`{"level":"info","message":"hello"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine()})
	ctx := context.Background()
	connected := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once sync.Once
		done <- c.FollowDaemonLog(ctx, localapi.LogQuery{}, func(localapi.LogLine) error {
			once.Do(func() { close(connected) }) // the tail came: the stream is up
			return nil
		})
	}()
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("the follower ended before it got the tail: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no tail line within 15s")
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follower ended with %v; want the stream closed", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the follower's stream did not end within 15s of the daemon stopping")
	}
}
