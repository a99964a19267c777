//go:build e2e

package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/tunnel"
)

// In its own file so that it runs last (files run in name order): after
// an API server restart the dev cluster's controller-manager
// takes a while to serve new namespaces again (default service accounts).
func TestAPIServerStopped10s(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	deploy(t, c, ns, 1)
	var ph phases
	f := forward(t, c, ns, tunnel.Auto, &ph)
	addr := f.State().Address
	if _, err := whoami(addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, f, "retrying while the API server is down", func(s forwarder.State) bool { return s.Phase == forwarder.Retrying })
	time.Sleep(10 * time.Second)
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	st := waitState(t, f, "running again", func(s forwarder.State) bool { return s.Phase == forwarder.Running })
	t.Logf("running again %v after the API server was ready", time.Since(back))
	if _, err := whoami(addr); err != nil {
		t.Fatalf("after the API server came back: %v", err)
	}
	seq := ph.get()
	if n := len(seq); n < 3 || seq[n-2] != forwarder.Retrying || seq[n-1] != forwarder.Running {
		t.Errorf("phases %v, want ... running, retrying, running", seq)
	}
	if st.Reconnects < 1 {
		t.Errorf("reconnects %d after the outage", st.Reconnects)
	}
}
