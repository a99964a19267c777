package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/kftray-go/kftray/forwarder/api"
)

// maxLogSize is where the log file is rotated (to daemon.log.1) at start.
const maxLogSize = 10 << 20

// OpenLog opens the daemon's JSON log file for appending (mode 0600),
// first moving a file grown past 10 MiB to daemon.log.1.
func OpenLog(p Paths) (*os.File, error) {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(p.Log); err == nil && fi.Size() > maxLogSize {
		_ = os.Rename(p.Log, p.Log+".1")
	}
	f, err := os.OpenFile(p.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the daemon log: %w", err)
	}
	return f, nil
}

// EnsureOptions say how to start a daemon when none runs.
type EnsureOptions struct {
	Dir string
	// Command is the daemon's command line (program and arguments), for
	// example [kftray daemon --detached --config-dir DIR].
	Command []string
	// Wait bounds how long to wait for the new daemon's socket; default 15 s.
	Wait time.Duration
}

// Ensure returns a client of the daemon for opts.Dir, starting one in the
// background (its own session, output to the log file) when none answers.
func Ensure(ctx context.Context, opts EnsureOptions) (*api.Client, bool, error) {
	p := PathsIn(opts.Dir)
	c := api.NewUnixClient(p.Socket)
	if _, err := c.Status(ctx); err == nil {
		return c, false, nil
	} else if !errors.Is(err, api.ErrNotRunning) {
		// A daemon killed a moment ago still has its socket until the
		// kernel has closed its files: connections to it are reset. The
		// lock tells whether a daemon runs.
		up, gone := waitUpOrGone(ctx, c, p, 2*time.Second)
		if up {
			return c, false, nil
		}
		if !gone {
			return nil, false, err
		}
	}
	if opts.Wait <= 0 {
		opts.Wait = 15 * time.Second
	}
	logf, err := OpenLog(p)
	if err != nil {
		return nil, false, err
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, 2)

	cmd := exec.Command(opts.Command[0], opts.Command[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf // panics and early errors land in the log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("starting the kftray daemon (%s): %w", strings.Join(opts.Command, " "), err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.NewTimer(opts.Wait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := c.Status(ctx); err == nil {
			return c, true, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case err := <-exited:
			// Another CLI may have started one at the same moment: then
			// ours exits (the lock is taken) and theirs will answer.
			if _, serr := c.Status(ctx); serr == nil {
				return c, true, nil
			}
			if waitSocket(ctx, c, 2*time.Second) {
				return c, true, nil
			}
			return nil, false, fmt.Errorf("the kftray daemon exited at start (%v); its log %s says:\n%s", err, p.Log, logTail(p.Log, logStart))
		case <-deadline.C:
			return nil, false, fmt.Errorf("the kftray daemon (pid %d) did not open %s within %s; see its log %s:\n%s",
				cmd.Process.Pid, p.Socket, opts.Wait, p.Log, logTail(p.Log, logStart))
		case <-tick.C:
		}
	}
}

// waitUpOrGone polls, for at most d, until the daemon answers (up) or no
// process holds the daemon lock (gone).
func waitUpOrGone(ctx context.Context, c *api.Client, p Paths, d time.Duration) (up, gone bool) {
	end := time.Now().Add(d)
	for {
		if _, err := c.Status(ctx); err == nil {
			return true, false
		}
		if !lockHeld(p) {
			return false, true
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return false, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitSocket(ctx context.Context, c *api.Client, d time.Duration) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := c.Status(ctx); err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// logTail returns the last lines the log got since offset from.
func logTail(name string, from int64) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	if from >= 0 && from <= int64(len(b)) {
		b = b[from:]
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	if len(lines) == 0 || len(lines[0]) == 0 {
		return "  (nothing)"
	}
	return "  " + string(bytes.Join(lines, []byte("\n  ")))
}

// StopRunning asks the daemon for dir to stop and waits (bounded by wait)
// until it has released its lock. It reports false when none was running.
func StopRunning(ctx context.Context, dir string, wait time.Duration) (bool, error) {
	p := PathsIn(dir)
	c := api.NewUnixClient(p.Socket)
	defer c.Close()
	st, err := c.Status(ctx)
	if errors.Is(err, api.ErrNotRunning) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := c.Shutdown(ctx); err != nil {
		return true, err
	}
	end := time.Now().Add(wait)
	for {
		if !lockHeld(p) {
			return true, nil
		}
		if time.Now().After(end) {
			return true, fmt.Errorf("the kftray daemon (pid %d) is still stopping after %s; see its log %s", st.PID, wait, p.Log)
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lockHeld reports whether a daemon holds the lock for p.
func lockHeld(p Paths) bool {
	l, err := acquireLock(p)
	if err != nil {
		return errors.Is(err, ErrRunning)
	}
	l.release()
	return false
}
