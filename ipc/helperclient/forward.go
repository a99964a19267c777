package helperclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/kftray-go/kftray/ipc"
)

// ForwardBind is everything one forward needs from the helper.
type ForwardBind struct {
	Network      string     // "tcp" (ListenForward) or "udp" (ListenForwardPacket)
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
	IP netip.Addr
	r  *reservation
}

// ForwardPacketConn is a UDP socket from the helper that, when closed, also
// removes its hosts lines and gives its address back.
type ForwardPacketConn struct {
	net.PacketConn
	IP netip.Addr
	r  *reservation
}

// ListenForward allocates (if asked), binds, and sets the hosts entries of
// one TCP forward. On error nothing is left behind.
func (c *Client) ListenForward(ctx context.Context, fb ForwardBind) (*ForwardListener, error) {
	fl := &ForwardListener{}
	r, err := c.reserve(ctx, fb, func(ip netip.Addr) (io.Closer, error) {
		ln, err := c.Listen(ctx, fb.Network, ip, fb.Port)
		if err != nil {
			return nil, err
		}
		fl.Listener = ln
		return ln, nil
	})
	if err != nil {
		return nil, err
	}
	fl.IP, fl.r = r.ip, r
	return fl, nil
}

// ListenForwardPacket is ListenForward for a UDP forward: the socket is
// bound by the helper and passed back like a listener.
func (c *Client) ListenForwardPacket(ctx context.Context, fb ForwardBind) (*ForwardPacketConn, error) {
	fp := &ForwardPacketConn{}
	r, err := c.reserve(ctx, fb, func(ip netip.Addr) (io.Closer, error) {
		pc, err := c.ListenPacket(ctx, fb.Network, ip, fb.Port)
		if err != nil {
			return nil, err
		}
		fp.PacketConn = pc
		return pc, nil
	})
	if err != nil {
		return nil, err
	}
	fp.IP, fp.r = r.ip, r
	return fp, nil
}

// Close closes the listener, removes the hosts lines and releases the
// address. The helper does all of that by itself when the session ends.
func (l *ForwardListener) Close() error { return l.r.release() }

// Close closes the socket, removes the hosts lines and releases the
// address. The helper does all of that by itself when the session ends.
func (p *ForwardPacketConn) Close() error { return p.r.release() }

// Unwrap returns the socket itself (a *net.UDPConn), for code that wants
// its UDP methods. Closing it does not release the address or the hosts
// lines; Close p for that (after closing the socket is fine).
func (p *ForwardPacketConn) Unwrap() net.PacketConn { return p.PacketConn }

// reservation is what a forward holds in the helper: a socket, maybe an
// allocated address, maybe hosts lines.
type reservation struct {
	c         *Client
	ip        netip.Addr
	lease     string
	sock      io.Closer
	hosts     bool
	allocated bool
	once      sync.Once
	err       error
}

// reserve allocates an address if asked, binds with bind, and sets the
// hosts entries. On error it undoes what it did.
func (c *Client) reserve(ctx context.Context, fb ForwardBind, bind func(netip.Addr) (io.Closer, error)) (_ *reservation, err error) {
	r := &reservation{c: c, lease: fb.Lease, ip: fb.IP}
	defer func() {
		if err != nil {
			r.release()
		}
	}()
	if len(fb.Hostnames) > 0 && fb.Lease == "" {
		return nil, errors.New("helper: hostnames need a lease name")
	}
	if fb.AutoLoopback {
		if r.ip, err = c.AllocateAddress(ctx); err != nil {
			return nil, err
		}
		r.allocated = true
		if err = c.AddLoopbackAlias(ctx, r.ip); err != nil {
			return nil, err
		}
	} else if !r.ip.IsValid() {
		r.ip = netip.MustParseAddr("127.0.0.1")
	}
	if r.sock, err = bind(r.ip); err != nil {
		return nil, err
	}
	if len(fb.Hostnames) > 0 {
		r.hosts = true
		if err = c.SetHosts(ctx, fb.Lease, []ipc.HostEntry{{IP: r.ip, Names: fb.Hostnames}}); err != nil {
			return nil, fmt.Errorf("hosts entries for %v: %w", fb.Hostnames, err)
		}
	}
	return r, nil
}

func (r *reservation) release() error {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		if r.sock != nil {
			// Already closed through Unwrap is fine: what is left to do
			// is the helper's part.
			if err := r.sock.Close(); !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if r.hosts {
			errs = append(errs, r.c.SetHosts(ctx, r.lease, nil))
		}
		if r.allocated {
			errs = append(errs, r.c.RemoveLoopbackAlias(ctx, r.ip), r.c.ReleaseAddress(ctx, r.ip))
		}
		r.err = errors.Join(errs...)
	})
	return r.err
}
