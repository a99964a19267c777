package hosts

import "sync"

// Gate lets a helper process exit without stopping in the middle of a
// hosts write. Writers enter it once they hold the lock; Close lets no new
// writer in and returns when the one inside (if any) has finished. The
// plugin closes it on SIGTERM and before it returns, so the launcher can
// ask it to stop instead of killing it mid-write.
type Gate struct {
	mu     sync.Mutex
	idle   *sync.Cond
	active int
	closed bool
}

func (g *Gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.active++
	return true
}

func (g *Gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active--
	if g.active == 0 && g.idle != nil {
		g.idle.Broadcast()
	}
}

// Close shuts the gate and waits for writers inside to leave. It may be
// called more than once, from any goroutine.
func (g *Gate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.idle == nil {
		g.idle = sync.NewCond(&g.mu)
	}
	for g.active > 0 {
		g.idle.Wait()
	}
}
