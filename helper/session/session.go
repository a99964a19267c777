// Package session implements the helper's RPC surface for one forwarder
// session: the root side of ipc.Helper. Every request is checked against the
// root config and the session's own allocations before anything happens.
package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/helper/addrpool"
	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/hosts"
	"github.com/kftray-go/kftray/ipc"
	"github.com/kftray-go/kftray/ipc/fdpass"
)

// Session serves one forwarder.
type Session struct {
	UID     uint32
	ID      string
	Config  *config.Config
	Hosts   *hosts.File
	Pool    *addrpool.Pool
	FDs     *fdpass.Conn // the fd channel; bound sockets leave through it
	Info    ipc.VersionInfo
	Log     zerolog.Logger
	aliases aliaser
}

var _ ipc.Helper = (*Session)(nil)

// errPolicy marks a bind the policy refuses.
var errPolicy = errors.New("refused by the helper's bind policy")

// kindError keeps a message and adds an ipc sentinel for the gRPC code.
type kindError struct{ err, kind error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

func classify(err error) error {
	if err == nil {
		return nil
	}
	var kind error
	switch {
	case errors.Is(err, hosts.ErrInvalid), errors.Is(err, hosts.ErrDamaged):
		kind = ipc.ErrInvalid
	case errors.Is(err, hosts.ErrConflict):
		kind = ipc.ErrConflict
	case errors.Is(err, hosts.ErrCap), errors.Is(err, addrpool.ErrExhausted):
		kind = ipc.ErrExhausted
	case errors.Is(err, addrpool.ErrNotOwned), errors.Is(err, errPolicy), errors.Is(err, syscall.EACCES):
		kind = ipc.ErrPermission
	case errors.Is(err, syscall.EADDRINUSE):
		kind = ipc.ErrConflict
	default:
		return err
	}
	return &kindError{err: err, kind: kind}
}

func (s *Session) Version(context.Context) (ipc.VersionInfo, error) { return s.Info, nil }

func (s *Session) AllocateAddress(context.Context) (netip.Addr, error) {
	ip, err := s.Pool.Allocate(s.UID, s.ID)
	if err != nil {
		return netip.Addr{}, classify(err)
	}
	s.Log.Debug().Stringer("ip", ip).Msg("address allocated")
	return ip, nil
}

func (s *Session) ReleaseAddress(_ context.Context, ip netip.Addr) error {
	return classify(s.Pool.Release(s.ID, ip))
}

func (s *Session) owned(ip netip.Addr) error {
	ok, err := s.Pool.Owns(s.ID, ip)
	if err != nil {
		return err
	}
	if !ok {
		return notOwned(ip)
	}
	return nil
}

func notOwned(ip netip.Addr) error {
	return classify(fmt.Errorf("%w: %s (call AllocateAddress first)", addrpool.ErrNotOwned, ip))
}

func (s *Session) AddLoopbackAlias(ctx context.Context, ip netip.Addr) error {
	if err := s.owned(ip); err != nil {
		return err
	}
	return s.aliases.add(ctx, ip)
}

func (s *Session) RemoveLoopbackAlias(ctx context.Context, ip netip.Addr) error {
	if err := s.owned(ip); err != nil {
		return err
	}
	return s.aliases.remove(ctx, ip)
}

// shared reports the loopback addresses every local program uses.
func shared(ip netip.Addr) bool {
	return ip == netip.MustParseAddr("127.0.0.1") || ip == netip.IPv6Loopback()
}

// checkBind is the bind policy: loopback only; on 127.0.0.1 and ::1, which
// other local software trusts, privileged ports only when the config lists
// them; on the session's own pool addresses any TCP port. A privileged
// source port is a credential to some services (rsh-style trust), so TCP
// sockets leave as listeners that cannot connect out (see lockListener),
// and UDP ports below 1024 only when the config lists them: a UDP socket
// can always send from its port.
func (s *Session) checkBind(req ipc.BindRequest) error {
	ip := req.IP.Unmap()
	if req.Network != "tcp" && req.Network != "udp" {
		return classify(fmt.Errorf("%w: network %q must be tcp or udp", hosts.ErrInvalid, req.Network))
	}
	if !ip.IsLoopback() || ip.Zone() != "" {
		return classify(fmt.Errorf("%w: %s is not a loopback address; the helper binds loopback only", hosts.ErrInvalid, ip))
	}
	if req.Network == "udp" && req.Port != 0 && req.Port < 1024 && !slices.Contains(s.Config.UDPPorts(), req.Port) {
		return classify(fmt.Errorf("%w: udp port %d is below 1024 and not in the helper config's udp_low_ports %v (a UDP socket can send from its port); ask the admin to list it, or use a port >= 1024", errPolicy, req.Port, s.Config.UDPPorts()))
	}
	if shared(ip) {
		// Port 0 lets the kernel pick an ephemeral port, never a privileged one.
		if req.Port == 0 || req.Port >= 1024 || slices.Contains(s.Config.SharedLoopbackPorts, req.Port) {
			return nil
		}
		return classify(fmt.Errorf("%w: port %d on %s is not in the helper config's shared_loopback_ports; allocate an address with AllocateAddress and bind there", addrpool.ErrNotOwned, req.Port, ip))
	}
	return s.owned(ip)
}

// BindListener binds, passes the descriptor on the fd channel in frame
// req.ID and keeps no copy: when the forwarder dies the port is free.
func (s *Session) BindListener(ctx context.Context, req ipc.BindRequest) error {
	if err := s.checkBind(req); err != nil {
		return err
	}
	ip := req.IP.Unmap()
	network := req.Network + "4"
	if ip.Is6() {
		network = req.Network + "6"
	}
	addr := netip.AddrPortFrom(ip, req.Port).String()
	var lc net.ListenConfig // SO_REUSEADDR as Go sets it; never SO_REUSEPORT
	lc.SetMultipathTCP(false)
	if req.Network == "tcp" {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var lerr error
			if err := c.Control(func(fd uintptr) { lerr = lockListener(int(fd)) }); err != nil {
				return err
			}
			if lerr != nil {
				return fmt.Errorf("lock listener: %w", lerr)
			}
			return nil
		}
	}
	var fileOf interface {
		File() (*os.File, error)
		Close() error
	}
	if req.Network == "tcp" {
		ln, err := lc.Listen(ctx, network, addr)
		if err != nil {
			return classify(fmt.Errorf("bind %s/%s: %w", req.Network, addr, err))
		}
		fileOf = ln.(*net.TCPListener)
	} else {
		pc, err := lc.ListenPacket(ctx, network, addr)
		if err != nil {
			return classify(fmt.Errorf("bind %s/%s: %w", req.Network, addr, err))
		}
		fileOf = pc.(*net.UDPConn)
	}
	f, err := fileOf.File()
	fileOf.Close()
	if err != nil {
		return fmt.Errorf("bind %s/%s: dup: %w", req.Network, addr, err)
	}
	defer f.Close()
	var body [8]byte
	binary.BigEndian.PutUint64(body[:], req.ID)
	if err := s.FDs.Write(body[:], int(f.Fd())); err != nil {
		return fmt.Errorf("pass bound socket %s/%s: %w", req.Network, addr, err)
	}
	s.Log.Debug().Str("network", req.Network).Str("addr", addr).Msg("socket bound and passed")
	return nil
}

func (s *Session) SetHosts(ctx context.Context, lease string, entries []ipc.HostEntry) error {
	es := make([]hosts.Entry, len(entries))
	var mine []netip.Addr // the pool is read once per request, not per entry
	loaded := false
	for i, e := range entries {
		// A pool address is named only by the live session that allocated
		// it: a socket kept from an ended session (or bound directly) on a
		// pool address must not get names pointing at it.
		if ip := e.IP.Unmap(); s.Pool.Prefix.Contains(ip) {
			var err error
			if !loaded {
				mine, err = s.Pool.SessionAddresses(s.ID)
				loaded = true
			}
			if err == nil && !slices.Contains(mine, ip) {
				err = notOwned(ip)
			}
			if err != nil {
				return classify(fmt.Errorf("hosts entry for %v: a pool address may be named only by the live session that allocated it: %w", e.Names, err))
			}
		}
		es[i] = hosts.Entry{IP: e.IP, Names: e.Names}
	}
	if err := s.Hosts.Set(ctx, s.UID, s.ID, lease, es); err != nil {
		return classify(err)
	}
	s.Log.Debug().Str("lease", lease).Int("entries", len(entries)).Msg("hosts updated")
	return nil
}

func (s *Session) ListHosts(ctx context.Context) ([]ipc.ManagedHost, error) {
	lines, err := s.Hosts.List(ctx)
	if err != nil {
		return nil, classify(err)
	}
	out := make([]ipc.ManagedHost, len(lines))
	for i, l := range lines {
		out[i] = ipc.ManagedHost{HostEntry: ipc.HostEntry{IP: l.IP, Names: l.Names}, UID: l.UID, Session: l.Session, Lease: l.Lease}
	}
	return out, nil
}
