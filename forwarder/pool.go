package forwarder

import (
	"context"
	"sync"
	"time"

	"github.com/kftray-go/kftray/forwarder/tunnel"
)

// connPool shares upgraded connections: every forward to the same pod
// (any port: each stream names its port) uses one connection. Besides
// sparing the API server, this matters for memory: each SPDY connection
// carries its own header compressor, about 800 KiB once a stream is made.
type connPool struct {
	mu    sync.Mutex
	conns map[poolKey]*poolEntry
}

type poolKey struct {
	cluster   string // kube.Source
	namespace string
	pod       string
}

type poolEntry struct {
	dialed chan struct{} // closed when conn or err is set
	conn   *tunnel.Conn
	err    error
	refs   int
}

func newConnPool() *connPool { return &connPool{conns: map[poolKey]*poolEntry{}} }

// get returns a live shared connection for key, dialing once for all
// concurrent callers. Each successful get must be paired with put.
func (p *connPool) get(ctx context.Context, key poolKey, dial func(context.Context) (*tunnel.Conn, error)) (*tunnel.Conn, error) {
	for {
		p.mu.Lock()
		e := p.conns[key]
		if e == nil {
			e = &poolEntry{dialed: make(chan struct{})}
			p.conns[key] = e
			p.mu.Unlock()
			c, err := dial(ctx)
			p.mu.Lock()
			e.conn, e.err = c, err
			close(e.dialed)
			if err != nil {
				delete(p.conns, key)
			} else {
				e.refs++
			}
			p.mu.Unlock()
			return c, err
		}
		select {
		case <-e.dialed:
			if e.err != nil {
				p.mu.Unlock()
				return nil, e.err
			}
			select {
			case <-e.conn.Done():
				// Dead: forget it (its users put it back) and dial anew.
				delete(p.conns, key)
				p.mu.Unlock()
				continue
			default:
			}
			e.refs++
			p.mu.Unlock()
			return e.conn, nil
		default:
		}
		p.mu.Unlock()
		select {
		case <-e.dialed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// put gives back a connection from get; the last user's put closes it
// once its streams have finished.
func (p *connPool) put(key poolKey, c *tunnel.Conn) {
	p.mu.Lock()
	last := true
	if e := p.conns[key]; e != nil && e.conn == c {
		e.refs--
		last = e.refs <= 0
		if last {
			delete(p.conns, key)
		}
	}
	p.mu.Unlock()
	if last {
		go closeWhenIdle(c)
	}
}

// closeWhenIdle closes c after its last forwarded connection ends.
func closeWhenIdle(c *tunnel.Conn) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for c.Active() > 0 {
		select {
		case <-c.Done():
			return
		case <-t.C:
		}
	}
	c.Close()
}
