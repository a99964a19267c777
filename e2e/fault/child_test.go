//go:build e2e && linux

package fault_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/fwdconfig"
)

// childArg makes the test binary a forwarder process (see TestMain).
const childArg = "fault-forwarder-child"

// childSpec is what the parent sends the child on stdin.
type childSpec struct {
	Config     fwdconfig.Config `json:"config"`
	Transport  tunnel.Transport `json:"transport"`
	PingPeriod time.Duration    `json:"ping_period"`
	DeadAfter  time.Duration    `json:"dead_after"`
	ConnWait   time.Duration    `json:"conn_wait"`
}

// forwarderChild runs one forward and prints every state change as a JSON
// line, until stdin closes.
func forwarderChild() int {
	in := bufio.NewReader(os.Stdin)
	var spec childSpec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		fmt.Fprintln(os.Stderr, "child: read spec:", err)
		return 2
	}
	var mu sync.Mutex
	out := json.NewEncoder(os.Stdout)
	m := forwarder.NewManager(forwarder.Options{
		Transport: spec.Transport, PingPeriod: spec.PingPeriod, DeadAfter: spec.DeadAfter, ConnWait: spec.ConnWait,
		Observer: forwarder.ObserverFunc(func(s forwarder.State) {
			mu.Lock()
			defer mu.Unlock()
			_ = out.Encode(s)
		}),
	})
	if err := m.Start(context.Background(), spec.Config); err != nil {
		fmt.Fprintln(os.Stderr, "child: start:", err)
		return 1
	}
	_, _ = io.Copy(io.Discard, in) // until the parent closes stdin
	m.StopAll()
	return 0
}

// child is the parent's handle on a forwarder child process.
type child struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser

	mu      sync.Mutex
	last    forwarder.State
	history []forwarder.State
	changed chan struct{}
	stderr  kftraytest.SyncBuffer
}

// startChild starts the forwarder child, prefixed by wrapper (for example
// `ip netns exec NAME`), and waits until its forward runs.
func startChild(t *testing.T, spec childSpec, wrapper ...string) *child {
	t.Helper()
	argv := append(append([]string{}, wrapper...), os.Args[0], childArg)
	cmd := exec.Command(argv[0], argv[1:]...)
	ch := &child{t: t, cmd: cmd, changed: make(chan struct{})}
	cmd.Stderr = &ch.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch.in = in
	t.Cleanup(func() {
		_ = ch.cmd.Process.Signal(syscall.SIGCONT)
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	go func() {
		dec := json.NewDecoder(out)
		for {
			var s forwarder.State
			if err := dec.Decode(&s); err != nil {
				return
			}
			ch.mu.Lock()
			ch.last = s
			ch.history = append(ch.history, s)
			close(ch.changed)
			ch.changed = make(chan struct{})
			ch.mu.Unlock()
		}
	}()
	if err := json.NewEncoder(in).Encode(spec); err != nil {
		t.Fatal(err)
	}
	ch.wait("running", 60*time.Second, func(s forwarder.State) bool { return s.Phase == forwarder.Running })
	return ch
}

func (ch *child) pid() int { return ch.cmd.Process.Pid }

// wait waits (bounded) for a state the child reported.
func (ch *child) wait(what string, bound time.Duration, cond func(forwarder.State) bool) forwarder.State {
	ch.t.Helper()
	deadline := time.After(bound)
	for {
		ch.mu.Lock()
		s, changed := ch.last, ch.changed
		ch.mu.Unlock()
		if cond(s) {
			return s
		}
		select {
		case <-changed:
		case <-deadline:
			ch.t.Fatalf("forwarder child: waiting %v for %s; last state %+v; stderr:\n%s", bound, what, s, ch.stderr.String())
		}
	}
}

// phases lists the phases the child went through since index from.
func (ch *child) phases(from int) (out []forwarder.Phase, n int) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for _, s := range ch.history[min(from, len(ch.history)):] {
		if len(out) == 0 || out[len(out)-1] != s.Phase {
			out = append(out, s.Phase)
		}
	}
	return out, len(ch.history)
}
