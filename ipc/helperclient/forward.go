package helperclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/kftray-go/kftray/ipc"
)

// ForwardBind is everything one forward needs from the helper.
type ForwardBind struct {
	Network      string     // "tcp"
	IP           netip.Addr // when !AutoLoopback; zero means 127.0.0.1
	AutoLoopback bool       // allocate a loopback address (and alias it on macOS)
	Port         uint16
	Hostnames    []string // hosts entries pointing at the address
	Lease        string   // names this forward's hosts lines, e.g. "cfg42"
}

// ForwardListener is a listener from the helper that, when closed, also
// removes its hosts lines and gives its address back.
type ForwardListener struct {
	net.Listener
	IP        netip.Addr
	c         *Client
	lease     string
	hosts     bool
	allocated bool
	once      sync.Once
	err       error
}

// ListenForward allocates (if asked), binds, and sets the hosts entries of
// one forward. On error nothing is left behind.
func (c *Client) ListenForward(ctx context.Context, fb ForwardBind) (_ *ForwardListener, err error) {
	fl := &ForwardListener{c: c, lease: fb.Lease, IP: fb.IP}
	defer func() {
		if err != nil {
			fl.release()
		}
	}()
	if fb.AutoLoopback {
		if fl.IP, err = c.AllocateAddress(ctx); err != nil {
			return nil, err
		}
		fl.allocated = true
		if err = c.AddLoopbackAlias(ctx, fl.IP); err != nil {
			return nil, err
		}
	} else if !fl.IP.IsValid() {
		fl.IP = netip.MustParseAddr("127.0.0.1")
	}
	if fl.Listener, err = c.Listen(ctx, fb.Network, fl.IP, fb.Port); err != nil {
		return nil, err
	}
	if len(fb.Hostnames) > 0 {
		if fb.Lease == "" {
			return nil, errors.New("helper: hostnames need a lease name")
		}
		fl.hosts = true
		if err = c.SetHosts(ctx, fb.Lease, []ipc.HostEntry{{IP: fl.IP, Names: fb.Hostnames}}); err != nil {
			return nil, fmt.Errorf("hosts entries for %v: %w", fb.Hostnames, err)
		}
	}
	return fl, nil
}

// Close closes the listener, removes the hosts lines and releases the
// address. The helper does all of that by itself when the session ends.
func (l *ForwardListener) Close() error {
	l.once.Do(func() { l.err = l.release() })
	return l.err
}

func (l *ForwardListener) release() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if l.Listener != nil {
		errs = append(errs, l.Listener.Close())
	}
	if l.hosts {
		errs = append(errs, l.c.SetHosts(ctx, l.lease, nil))
	}
	if l.allocated {
		errs = append(errs, l.c.RemoveLoopbackAlias(ctx, l.IP), l.c.ReleaseAddress(ctx, l.IP))
	}
	return errors.Join(errs...)
}
