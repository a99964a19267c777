package forwarder

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// gateBinder binds directly once the test opens the gate (or the start is
// given up), so a test can act while a forward is still starting.
type gateBinder struct {
	entered chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func newGateBinder() *gateBinder {
	return &gateBinder{entered: make(chan struct{}), gate: make(chan struct{})}
}

func (b *gateBinder) Listen(ctx context.Context, req BindRequest) (net.Listener, error) {
	b.once.Do(func() { close(b.entered) })
	select {
	case <-b.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return DirectBinder{}.Listen(context.Background(), req)
}

// A stop that arrives while the forward is still starting is not lost:
// the forward does not come up (or is stopped as it does), and its last
// state is stopped, not running nor failed.
func TestStopWhileStarting(t *testing.T) {
	w := newWorld(t)
	w.addPod("web-1")
	w.endpoints("web-1")
	opts := w.options()
	b := newGateBinder()
	opts.Binder = b
	var mu sync.Mutex
	var last State
	opts.Observer = ObserverFunc(func(s State) { mu.Lock(); last = s; mu.Unlock() })
	m := NewManager(opts)
	defer m.StopAll()
	cfg := webConfig(1)

	started := make(chan error, 1)
	go func() { started <- m.Start(context.Background(), cfg) }()
	<-b.entered
	m.Stop(cfg.ID)
	close(b.gate)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return")
	}
	if f := m.Forward(cfg.ID); f != nil {
		addr := f.Addr().String()
		t.Fatalf("the forward stopped while starting runs on %s (state %+v)", addr, f.State())
	}
	if ids := m.IDs(); len(ids) != 0 {
		t.Fatalf("the manager still runs %v", ids)
	}
	mu.Lock()
	defer mu.Unlock()
	if last.Phase != Stopped {
		t.Fatalf("last state %+v, want stopped", last)
	}
}
