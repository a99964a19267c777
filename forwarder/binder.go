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

// BindRequest is one listener (or UDP socket) a forward needs.
type BindRequest struct {
	ConfigID int64
	Network  string // "tcp" for Listen, "udp" for ListenPacket
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

// PacketBinder is a Binder that also binds UDP sockets, for UDP forwards
// (the relay path). It is a separate interface so that binders made for
// TCP only keep working; a UDP forward whose Binder is not a PacketBinder
// binds with DirectBinder.
type PacketBinder interface {
	Binder
	ListenPacket(ctx context.Context, req BindRequest) (net.PacketConn, error)
}

// DirectBinder binds in this process, as the user. When the bind needs
// privilege it fails with ErrNeedsHelper and says how to install the helper.
type DirectBinder struct{}

var _ PacketBinder = DirectBinder{}

// Listen implements Binder.
func (DirectBinder) Listen(ctx context.Context, req BindRequest) (net.Listener, error) {
	addr, err := directAddr(req, "")
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, req.Network, addr)
	if err != nil {
		return nil, bindError("", addr, err)
	}
	return ln, nil
}

// ListenPacket implements PacketBinder: the same checks as Listen, for a
// UDP socket.
func (DirectBinder) ListenPacket(ctx context.Context, req BindRequest) (net.PacketConn, error) {
	switch req.Network {
	case "udp", "udp4", "udp6":
	default:
		return nil, fmt.Errorf("listen on %s: network %q is not a packet network; use udp", reqAddr(req), req.Network)
	}
	addr, err := directAddr(req, "udp ")
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, req.Network, addr)
	if err != nil {
		return nil, bindError("udp ", addr, err)
	}
	return pc, nil
}

// directAddr is the address req binds to, or an ErrNeedsHelper error when
// this process may not bind it. what prefixes the address in errors.
func directAddr(req BindRequest, what string) (string, error) {
	ip, addr := reqIP(req), reqAddr(req)
	if req.AutoLoopback || len(req.Hostnames) > 0 {
		return "", fmt.Errorf("listen on %s%s: an allocated loopback address and hostnames in /etc/hosts need the helper; install it with `%s`: %w",
			what, addr, HelperInstallCommand, ErrNeedsHelper)
	}
	if req.Port > 0 && req.Port < unprivilegedPortStart() && os.Geteuid() != 0 {
		return "", fmt.Errorf("listen on %s%s: ports below %d need privilege; install the helper with `%s`: %w",
			what, addr, unprivilegedPortStart(), HelperInstallCommand, ErrNeedsHelper)
	}
	if err := addressNeedsHelper(ip); err != nil {
		return "", fmt.Errorf("listen on %s%s: %w; install the helper with `%s`: %w", what, addr, err, HelperInstallCommand, ErrNeedsHelper)
	}
	return addr, nil
}

func reqIP(req BindRequest) string {
	if req.IP == "" {
		return "127.0.0.1"
	}
	return req.IP
}

func reqAddr(req BindRequest) string { return net.JoinHostPort(reqIP(req), strconv.Itoa(req.Port)) }

// bindError explains a failed bind.
func bindError(what, addr string, err error) error {
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("listen on %s%s: permission denied; install the helper with `%s`: %w", what, addr, HelperInstallCommand, ErrNeedsHelper)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s%s: address already in use; stop what uses it or choose another local_port (0 picks a free one): %w", what, addr, err)
	}
	return fmt.Errorf("listen on %s%s: %w", what, addr, err)
}
