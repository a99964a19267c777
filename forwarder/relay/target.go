package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/kftray-go/kftray/forwarder/tunnel"
)

// DialFunc opens an upgraded port-forward connection to a pod: tunnel.Dial
// bound to the cluster's rest.Config and options.
type DialFunc func(ctx context.Context, namespace, pod string) (*tunnel.Conn, error)

// Target carries a forward's traffic to its relay: it keeps one upgraded
// connection to a ready relay pod and opens a stream to the relay's port per
// local connection (tcp mode) or per relay session (udp mode, see
// OpenStream). When the pod goes away it moves to the replacement; when the
// Deployment itself is gone it deploys it again.
type Target struct {
	d            *Deployer
	spec         Spec
	dial         DialFunc
	readyTimeout time.Duration

	mu  sync.Mutex // held while resolving, so concurrent opens share one resolution
	r   *Relay
	c   *tunnel.Conn
	pod string
}

// NewTarget returns a Target for relay r, deployed from spec.
func (d *Deployer) NewTarget(r *Relay, spec Spec, dial DialFunc, readyTimeout time.Duration) *Target {
	return &Target{d: d, r: r, spec: spec, dial: dial, readyTimeout: readyTimeout}
}

// Pod is the relay pod currently in use ("" before the first stream).
func (t *Target) Pod() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pod
}

// conn returns the live upgraded connection, making one if needed.
func (t *Target) conn(ctx context.Context) (*tunnel.Conn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c != nil {
		select {
		case <-t.c.Done():
			t.c = nil
		default:
			return t.c, nil
		}
	}
	ok, err := t.d.Exists(ctx, t.r)
	if err != nil {
		return nil, err
	}
	if !ok {
		t.d.Log.Warn().Str("relay", t.r.Namespace+"/"+t.r.Name).Msg("relay Deployment is gone; deploying it again")
		r, err := t.d.Deploy(ctx, t.spec)
		if err != nil {
			return nil, fmt.Errorf("redeploy relay: %w", err)
		}
		t.r = r
	}
	pod, err := t.d.WaitReady(ctx, t.r, t.readyTimeout)
	if err != nil {
		return nil, err
	}
	c, err := t.dial(ctx, t.r.Namespace, pod)
	if err != nil {
		return nil, err
	}
	if pod != t.pod && t.pod != "" {
		t.d.Log.Info().Str("relay", t.r.Namespace+"/"+t.r.Name).Str("from", t.pod).Str("to", pod).Msg("relay pod replaced")
	}
	t.c, t.pod = c, pod
	return c, nil
}

// drop forgets c after a failure that says the pod is no longer serving, so
// the next stream resolves a ready pod again.
func (t *Target) drop(c *tunnel.Conn) {
	t.mu.Lock()
	if t.c == c {
		t.c = nil
	}
	t.mu.Unlock()
	c.Close()
}

// Forward copies between local and the relay's port until either side is
// done. It closes local.
func (t *Target) Forward(ctx context.Context, local net.Conn) error {
	return t.forward(ctx, nil, local)
}

// forward sends local to the relay over c (resolved when nil). A stream the
// relay pod refused before seeing any byte (pod terminating, relay not
// listening yet) goes to a freshly resolved pod, a few times.
func (t *Target) forward(ctx context.Context, c *tunnel.Conn, local net.Conn) error {
	l := tunnel.NewLocal(local)
	var err error
	for range 3 {
		if c == nil {
			if c, err = t.conn(ctx); err != nil {
				break
			}
		}
		err = c.Forward(ctx, l, t.r.Port, nil)
		var refused *tunnel.RefusedError
		var pod *tunnel.StreamError
		isRefused := errors.As(err, &refused)
		select {
		case <-c.Done():
			t.drop(c)
		default:
			if isRefused || errors.As(err, &pod) {
				// The kubelet could not reach the relay in its pod: the pod
				// is going away or not serving. Resolve a ready one.
				t.drop(c)
			}
		}
		if !isRefused {
			return err // Forward closed local
		}
		c = nil
	}
	local.Close()
	return err
}

// OpenStream opens one stream to the relay: the udprelay.OpenStream of a UDP
// forward. Resolution errors (image pull failure, RBAC) are returned here,
// so the UDP client reports them as they are.
func (t *Target) OpenStream(ctx context.Context) (io.ReadWriteCloser, error) {
	c, err := t.conn(ctx)
	if err != nil {
		return nil, err
	}
	local, remote := net.Pipe()
	go t.forward(ctx, c, remote) // when it ends, remote is closed; the client sees EOF and reopens
	return local, nil
}

// Close drops the upgraded connection; the relay stays deployed.
func (t *Target) Close() {
	t.mu.Lock()
	c := t.c
	t.c = nil
	t.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Stop closes the connection and deletes the relay's Deployment.
func (t *Target) Stop(ctx context.Context) error {
	t.Close()
	t.mu.Lock()
	r := t.r
	t.mu.Unlock()
	return t.d.Delete(ctx, r)
}
