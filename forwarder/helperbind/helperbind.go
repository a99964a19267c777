// Package helperbind plugs the root helper into the forwarder: a
// forwarder.Binder that binds directly whenever the user may, and through
// one helper session (dialed on first need, redialed if it ends) for low
// ports, allocated loopback addresses and hostnames.
package helperbind

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/ipc/helperclient"
)

// Binder implements forwarder.PacketBinder.
type Binder struct {
	Options helperclient.Options
	// Direct is tried first; default forwarder.DirectBinder{}. For UDP it
	// is used only if it is a forwarder.PacketBinder.
	Direct forwarder.Binder

	mu sync.Mutex
	c  *helperclient.Client
}

var _ forwarder.PacketBinder = (*Binder)(nil)

// Listen binds req, directly if possible.
func (b *Binder) Listen(ctx context.Context, req forwarder.BindRequest) (net.Listener, error) {
	direct := b.Direct
	if direct == nil {
		direct = forwarder.DirectBinder{}
	}
	ln, derr := direct.Listen(ctx, req)
	if derr == nil || !errors.Is(derr, forwarder.ErrNeedsHelper) {
		return ln, derr
	}
	c, fb, err := b.viaHelper(ctx, req, derr)
	if err != nil {
		return nil, err
	}
	fl, err := c.ListenForward(ctx, fb)
	if err != nil {
		return nil, err // not a nil *ForwardListener in a non-nil interface
	}
	return fl, nil
}

// ListenPacket binds a UDP socket for req, directly if possible. The
// socket from the helper releases its address and hosts lines on Close.
func (b *Binder) ListenPacket(ctx context.Context, req forwarder.BindRequest) (net.PacketConn, error) {
	direct, ok := b.Direct.(forwarder.PacketBinder)
	if !ok {
		direct = forwarder.DirectBinder{}
	}
	pc, derr := direct.ListenPacket(ctx, req)
	if derr == nil || !errors.Is(derr, forwarder.ErrNeedsHelper) {
		return pc, derr
	}
	c, fb, err := b.viaHelper(ctx, req, derr)
	if err != nil {
		return nil, err
	}
	fp, err := c.ListenForwardPacket(ctx, fb)
	if err != nil {
		return nil, err
	}
	return fp, nil
}

// viaHelper returns the helper session and what to ask it for req, after
// the direct bind failed with derr. Without a helper installed the answer
// is derr, which already says how to install it.
func (b *Binder) viaHelper(ctx context.Context, req forwarder.BindRequest, derr error) (*helperclient.Client, helperclient.ForwardBind, error) {
	var fb helperclient.ForwardBind
	c, err := b.client(ctx)
	if err != nil {
		if errors.Is(err, helperclient.ErrNotInstalled) {
			return nil, fb, derr
		}
		return nil, fb, err
	}
	var ip netip.Addr
	if !req.AutoLoopback && req.IP != "" {
		if ip, err = netip.ParseAddr(req.IP); err != nil {
			return nil, fb, fmt.Errorf("local_address %q is not an IP address: %w", req.IP, err)
		}
	}
	if req.Port < 0 || req.Port > 65535 {
		return nil, fb, fmt.Errorf("local_port %d is not a port", req.Port)
	}
	return c, helperclient.ForwardBind{
		Network:      req.Network,
		IP:           ip,
		AutoLoopback: req.AutoLoopback,
		Port:         uint16(req.Port),
		Hostnames:    req.Hostnames,
		Lease:        fmt.Sprintf("cfg%d", req.ConfigID),
	}, nil
}

// client returns the live session, dialing a new one if there is none.
func (b *Binder) client(ctx context.Context) (*helperclient.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		select {
		case <-b.c.Done():
			// The helper went away. Sockets it passed keep working (it kept
			// no copy), but it removed their hosts lines and addresses;
			// forwards started from now on use the new session.
			b.c.Close()
			b.c = nil
		default:
			return b.c, nil
		}
	}
	c, err := helperclient.Dial(ctx, b.Options)
	if err != nil {
		return nil, err
	}
	b.c = c
	return c, nil
}

// Close ends the helper session, if any: the helper then removes every
// hosts line and address of this forwarder.
func (b *Binder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		return nil
	}
	err := b.c.Close()
	b.c = nil
	return err
}
