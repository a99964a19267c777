package localapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// EnsureOptions say how to start a daemon when none runs.
type EnsureOptions struct {
	Dir string
	// Command is the daemon's command line (program and arguments), for
	// example [kftray daemon --detached --config-dir DIR]; DaemonCommand
	// builds it.
	Command []string
	// Wait bounds how long to wait for the new daemon's socket; default 15 s.
	Wait time.Duration
}

// Ensure returns a client of the daemon for opts.Dir, starting one in the
// background (detached from the terminal, output to the log file) when none
// answers, and whether it started one. It links no daemon code: any client (the
// CLI, a TUI, an MCP server) can start the daemon by running kftray.
func Ensure(ctx context.Context, opts EnsureOptions) (*Client, bool, error) {
	p := PathsIn(opts.Dir)
	c := NewUnixClient(p.Socket)
	if _, err := c.Status(ctx); err == nil {
		return c, false, nil
	} else if !errors.Is(err, ErrNotRunning) {
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
	cmd.SysProcAttr = detachAttr()
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
func waitUpOrGone(ctx context.Context, c *Client, p Paths, d time.Duration) (up, gone bool) {
	end := time.Now().Add(d)
	for {
		if _, err := c.Status(ctx); err == nil {
			return true, false
		}
		if !p.LockHeld() {
			return false, true
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return false, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitSocket(ctx context.Context, c *Client, d time.Duration) bool {
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

// DaemonCommand is the command line that runs the daemon for dir in the
// background, as Ensure wants it: KFTRAY daemon --detached --config-dir
// DIR, plus -v flags. kftray is the kftray program; "" finds it with
// FindKftray.
func DaemonCommand(kftray, dir string, verbosity int) ([]string, error) {
	if kftray == "" {
		var err error
		if kftray, err = FindKftray(); err != nil {
			return nil, err
		}
	}
	args := []string{kftray, "daemon", "--detached", "--config-dir", dir}
	if verbosity > 0 {
		args = append(args, "-"+strings.Repeat("v", verbosity))
	}
	return args, nil
}

// FindKftray finds the kftray program for a client that is not kftray
// itself: the running program when it is kftray, else the kftray next to
// it (installed together), else kftray on PATH.
func FindKftray() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the kftray program to start the daemon: %w; start it with 'kftray daemon start'", err)
	}
	if strings.TrimSuffix(filepath.Base(exe), ".exe") == "kftray" {
		return exe, nil
	}
	next := filepath.Join(filepath.Dir(exe), "kftray")
	if fi, err := os.Stat(next); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return next, nil
	}
	p, err := exec.LookPath("kftray")
	if err != nil {
		return "", fmt.Errorf("cannot find the kftray program to start the daemon: not at %s and not on PATH (%w); install kftray or start the daemon with 'kftray daemon start'", next, err)
	}
	return p, nil
}
