package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// How a daemon is started.
type daemonMode int

const (
	// asShipped is the daemon as `kftray start` spawns it: through
	// localapi.Ensure with the CLI's DaemonCommand.
	asShipped daemonMode = iota
	// setsidDetached is how Ensure detached it before issue 22: the same
	// command line in a session (and so a scheduler autogroup) of its own.
	setsidDetached
	// foreground is a plain `kftray daemon` child of the bench (same
	// session and autogroup as the bench).
	foreground
)

// daemonProc is a real `kftray daemon` (the binary built from cmd/kftray)
// with its own config directory, running the web forwards (HTTP and echo)
// with its default transport.
type daemonProc struct {
	dir       string
	c         *localapi.Client
	cmd       *exec.Cmd // foreground only
	pid       int
	http      string
	echo      string
	transport string
}

// buildKftray builds cmd/kftray into dir (once per run).
func buildKftray(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kftray")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kftray")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build kftray: %w\n%s", err, out)
	}
	return bin, nil
}

func startDaemon(ctx context.Context, bin, dir string, mode daemonMode, web func(id int64, port int) fwdconfig.Config) (*daemonProc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d := &daemonProc{dir: dir}
	args, err := localapi.DaemonCommand(bin, dir, 0)
	if err != nil {
		return nil, err
	}
	if mode == asShipped {
		c, _, err := localapi.Ensure(ctx, localapi.EnsureOptions{Dir: dir, Command: args, Wait: time.Minute})
		if err != nil {
			return nil, fmt.Errorf("kftray daemon (as kftray start spawns it): %w", err)
		}
		d.c = c
	} else {
		logf, err := os.Create(filepath.Join(dir, "daemon.out"))
		if err != nil {
			return nil, err
		}
		defer logf.Close()
		if mode == foreground {
			d.cmd = exec.Command(bin, "daemon", "--config-dir", dir)
			dieWithParent(d.cmd)
		} else {
			d.cmd = exec.Command(args[0], args[1:]...)
			d.cmd.SysProcAttr = setsidAttr()
		}
		d.cmd.Stdout, d.cmd.Stderr = logf, logf
		if err := d.cmd.Start(); err != nil {
			return nil, fmt.Errorf("kftray daemon: %w", err)
		}
		d.c = localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := d.c.Status(ctx); err == nil {
				break
			} else if time.Now().After(deadline) {
				d.stop()
				return nil, fmt.Errorf("kftray daemon did not answer on %s within 1m: %w (output %s)", localapi.PathsIn(dir).Socket, err, logf.Name())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	st, err := d.c.Status(ctx)
	if err != nil {
		d.stop()
		return nil, err
	}
	d.pid = st.PID
	fail := func(err error) (*daemonProc, error) {
		d.stop()
		return nil, fmt.Errorf("kftray daemon in %s: %w", dir, err)
	}
	var refs []string
	for _, cfg := range []fwdconfig.Config{web(1, 80), web(2, 9000)} {
		cfg.ID = 0
		id, err := d.c.CreateConfig(ctx, cfg)
		if err != nil {
			return fail(err)
		}
		refs = append(refs, strconv.FormatInt(id, 10))
	}
	if _, err := d.c.Start(ctx, localapi.Selection{Refs: refs}); err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		fs, err := d.c.Forwards(ctx)
		if err != nil {
			return fail(err)
		}
		running := 0
		var states []string
		for _, f := range fs {
			states = append(states, f.Name+"="+f.Status)
			if f.Status != "running" {
				continue
			}
			running++
			switch f.Config.RemotePort {
			case 80:
				d.http = f.Address
			case 9000:
				d.echo = f.Address
			}
			d.transport = f.Transport
		}
		if running == 2 && d.http != "" && d.echo != "" {
			return d, nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("forwards not running after 2m: %s", strings.Join(states, ", ")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts the daemon down through its API (its forwards stop; the
// foreground one is killed after a bound).
func (d *daemonProc) stop() {
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if d.c != nil {
		_ = d.c.Shutdown(ctx)
	}
	if d.cmd != nil {
		done := make(chan struct{})
		go func() { _ = d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			_ = d.cmd.Process.Kill()
			<-done
		}
		return
	}
	// The detached daemon is not our child to wait for once Ensure's
	// goroutine reaped it; poll until its pid is gone.
	for d.pid != 0 && ctx.Err() == nil {
		if _, err := os.Stat("/proc/" + strconv.Itoa(d.pid)); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d.pid != 0 {
		if p, err := os.FindProcess(d.pid); err == nil {
			_ = p.Kill()
		}
	}
}

// schedInfo describes where the scheduler puts a process: its autogroup
// (Linux with CONFIG_SCHED_AUTOGROUP), session and process group.
func schedInfo(pid int) string {
	if pid == 0 {
		return ""
	}
	ag, _ := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", pid))
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(stat)
	sid, pgrp := "?", "?"
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 3 {
			pgrp, sid = f[2], f[3]
		}
	}
	return fmt.Sprintf("pid %d, session %s, pgrp %s, autogroup %q", pid, sid, pgrp, strings.TrimSpace(string(ag)))
}
