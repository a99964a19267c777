//go:build e2e && linux

package fault_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
)

// TestForwarderSuspended suspends the forwarder process (SIGSTOP, as a
// laptop's sleep does) for longer than its ping timeout, then resumes it:
// the forward must serve again by itself, and a connection made while it
// was suspended must end (served or closed), not hang.
func TestForwarderSuspended(t *testing.T) {
	c := cluster.Get(t)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			ns := c.Namespace(t)
			pods := deploy(t, c, ns, 1)
			const ping, dead, connWait = time.Second, 4 * time.Second, 5 * time.Second
			ch := startChild(t, childSpec{Config: webConfig(c, ns, 1, 80), Transport: tr, PingPeriod: ping, DeadAfter: dead, ConnWait: connWait})
			addr := ch.last.Address
			if name, err := whoami(context.Background(), nil, addr); err != nil || name != pods[0] {
				t.Fatalf("before: %q %v", name, err)
			}
			_, mark := ch.phases(0)

			if err := syscall.Kill(ch.pid(), syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			// A client connects while the forwarder sleeps: the kernel
			// accepts it into the listen backlog.
			type res struct {
				name string
				err  error
				at   time.Time
			}
			during := make(chan res, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				name, err := whoami(ctx, nil, addr)
				during <- res{name, err, time.Now()}
			}()
			time.Sleep(dead + 4*time.Second) // past the ping timeout
			if err := syscall.Kill(ch.pid(), syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			resumed := time.Now()
			_, took := eventually(t, nil, addr, pods[0], 30*time.Second)
			st := ch.wait("running after resume", 30*time.Second, func(s forwarder.State) bool { return s.Phase == forwarder.Running })
			var r res
			select {
			case r = <-during:
			case <-time.After(connWait + 30*time.Second):
				t.Fatalf("the connection made during the suspension was neither served nor closed %v after resuming", connWait+30*time.Second)
			}
			seq, _ := ch.phases(mark)
			t.Logf("%s: suspended %v; first new request OK %v after SIGCONT; the request made while suspended ended %v after SIGCONT (%q, %v); phases after: %v; reconnects %d",
				tr, dead+4*time.Second, took.Round(time.Millisecond), r.at.Sub(resumed).Round(time.Millisecond), r.name, r.err, seq, st.Reconnects)
		})
	}
}
