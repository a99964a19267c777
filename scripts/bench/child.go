package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// engineProc is the parent's handle on a `bench engine` child.
type engineProc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *json.Decoder
	stderr *os.File
}

// startEngine starts a child engine and waits for its hello.
func startEngine(logPath string) (*engineProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "engine")
	cmd.Stderr = logf
	dieWithParent(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start engine child: %w", err)
	}
	e := &engineProc{cmd: cmd, in: in, out: json.NewDecoder(bufio.NewReader(out)), stderr: logf}
	var hello engineReply
	if err := e.read(&hello, 30*time.Second); err != nil {
		e.stop()
		return nil, fmt.Errorf("engine child hello: %w (log %s)", err, logPath)
	}
	return e, nil
}

func (e *engineProc) pid() int { return e.cmd.Process.Pid }

func (e *engineProc) read(rep *engineReply, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- e.out.Decode(rep) }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("engine child did not answer within %v", timeout)
	}
}

// do sends one command and returns its reply.
func (e *engineProc) do(cmd engineCmd, timeout time.Duration) (engineReply, error) {
	var rep engineReply
	if err := json.NewEncoder(e.in).Encode(cmd); err != nil {
		return rep, fmt.Errorf("engine child: %w", err)
	}
	if err := e.read(&rep, timeout); err != nil {
		return rep, err
	}
	if rep.Err != "" {
		return rep, errors.New(rep.Err)
	}
	return rep, nil
}

// stop closes stdin (the child stops its forwards and exits) and waits,
// killing it after a bound.
func (e *engineProc) stop() {
	e.in.Close()
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = e.cmd.Process.Kill()
		<-done
	}
	e.stderr.Close()
}

// rssKiB is a process's resident set size from /proc.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// cpuTime is a process's user+system CPU time so far (all its threads).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz
}
