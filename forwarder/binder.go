package forwarder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// HelperInstallCommand is what the user runs to enable privileged binds.
const HelperInstallCommand = "sudo kftray helper install"

// ErrNeedsHelper marks a bind that needs the root helper.
var ErrNeedsHelper = errors.New("needs the kftray helper")

// BindRequest is one listener a forward needs.
type BindRequest struct {
	ConfigID int64
	Network  string // "tcp"
	IP       string // local_address; "" means 127.0.0.1
	Port     int    // 0 picks a free port
	// AutoLoopback asks for an allocated loopback address instead of IP,
	// and Hostnames for hosts-file entries pointing at it: both need the
	// helper.
	AutoLoopback bool
	Hostnames    []string
}

// Binder creates listeners. The default binds directly; the helper's
// client implements it for privileged binds (low ports, extra loopback
// addresses), handing back a listener built from the received fd.
type Binder interface {
	Listen(ctx context.Context, req BindRequest) (net.Listener, error)
}

// DirectBinder binds in this process, as the user. When the bind needs
// privilege it fails with ErrNeedsHelper and says how to install the helper.
type DirectBinder struct{}

// Listen implements Binder.
func (DirectBinder) Listen(ctx context.Context, req BindRequest) (net.Listener, error) {
	ip := req.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(req.Port))
	if req.AutoLoopback || len(req.Hostnames) > 0 {
		return nil, fmt.Errorf("listen on %s: an allocated loopback address and hostnames in /etc/hosts need the helper; install it with `%s`: %w",
			addr, HelperInstallCommand, ErrNeedsHelper)
	}
	if req.Port > 0 && req.Port < unprivilegedPortStart() && os.Geteuid() != 0 {
		return nil, fmt.Errorf("listen on %s: ports below %d need privilege; install the helper with `%s`: %w",
			addr, unprivilegedPortStart(), HelperInstallCommand, ErrNeedsHelper)
	}
	if err := addressNeedsHelper(ip); err != nil {
		return nil, fmt.Errorf("listen on %s: %w; install the helper with `%s`: %w", addr, err, HelperInstallCommand, ErrNeedsHelper)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, req.Network, addr)
	if err != nil {
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			return nil, fmt.Errorf("listen on %s: permission denied; install the helper with `%s`: %w", addr, HelperInstallCommand, ErrNeedsHelper)
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen on %s: address already in use; stop what uses it or choose another local_port (0 picks a free one): %w", addr, err)
		}
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}
