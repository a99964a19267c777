package forwarder

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kftray-go/kftray/forwarder/kube"
)

// A forward that waited for a cluster load that failed must give back only
// what it took: not a reference of the entry a later start loaded for the
// same cluster (which would leave a running forward with no cache entry,
// a second client for the next start, and the next stop closing another
// forward's watches).
func TestFailedLoadReleasesOnlyItsOwnEntry(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	w.endpoints("web-1")
	opts := w.options()
	good := opts.LoadCluster
	entered, gate := make(chan struct{}), make(chan struct{})
	var loads atomic.Int32
	opts.LoadCluster = func(src kube.Source) (*kube.Cluster, error) {
		if loads.Add(1) == 1 {
			close(entered)
			<-gate
			return nil, errors.New("kubeconfig: unreadable (test)")
		}
		return good(src)
	}
	m := NewManager(opts)
	defer m.StopAll()

	// A loads the cluster and fails, slowly.
	aDone := make(chan error, 1)
	go func() { aDone <- m.Start(context.Background(), webConfig(1)) }()
	<-entered
	// B waits for A's load; it is held once the load is done.
	arrived, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	m.waitLoaded = func(ce *clusterEntry) {
		once.Do(func() { close(arrived) })
		<-ce.loaded
		<-proceed
	}
	bDone := make(chan error, 1)
	go func() { bDone <- m.Start(context.Background(), webConfig(2)) }()
	<-arrived
	close(gate)
	if err := <-aDone; err == nil {
		t.Fatal("A started on a cluster whose load failed")
	}
	// C starts after the failure: it loads the cluster again and runs.
	if err := m.Start(context.Background(), webConfig(3)); err != nil {
		t.Fatal(err)
	}
	waitState(t, m.Forward(3), "C running", func(s State) bool { return s.Phase == Running })
	close(proceed)
	select {
	case err := <-bDone:
		if err == nil {
			t.Fatal("B started on a cluster whose load failed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B did not return")
	}
	if n := m.Clusters(); n != 1 {
		t.Fatalf("%d cluster entries while C runs, want 1 (B's failure released C's)", n)
	}
	// D shares C's client: no third load.
	if err := m.Start(context.Background(), webConfig(4)); err != nil {
		t.Fatal(err)
	}
	if n := loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2 (D must reuse C's cluster)", n)
	}
	// Stopping C leaves D's watches alone: D still follows a new pod.
	m.Stop(3)
	w.addPod("web-2")
	w.endpoints("web-2")
	w.deletePod("web-1")
	waitState(t, m.Forward(4), "D moved to web-2", func(s State) bool { return s.Phase == Running && s.Pod == "web-2" })
}
