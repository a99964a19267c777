package ipc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kftray-go/kftray/ipc/helperpb"
)

// HelperPlugin is the go-plugin GRPCPlugin for Helper.
type HelperPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Helper // server side only
}

// GRPCServer registers the server adapter.
func (p *HelperPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("ipc: HelperPlugin has no implementation")
	}
	helperpb.RegisterHelperServer(s, &grpcServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a Helper backed by the gRPC connection.
func (p *HelperPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &GRPCClient{c: helperpb.NewHelperClient(c)}, nil
}

// Error codes carried across the boundary. Code lets the forwarder react
// (e.g. tell the user to fix a name) without parsing messages.
var (
	ErrInvalid    = errors.New("invalid request")
	ErrPermission = errors.New("not permitted")
	ErrExhausted  = errors.New("resource exhausted")
	ErrConflict   = errors.New("conflict")
)

func toStatus(err error) error {
	if err == nil {
		return nil
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, ErrPermission):
		code = codes.PermissionDenied
	case errors.Is(err, ErrExhausted):
		code = codes.ResourceExhausted
	case errors.Is(err, ErrConflict):
		code = codes.AlreadyExists
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

// remoteError keeps the helper's message and maps the code back to a
// sentinel so errors.Is works on the forwarder side.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return "helper: " + e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("helper: %w", err)
	}
	var kind error
	switch st.Code() {
	case codes.InvalidArgument:
		kind = ErrInvalid
	case codes.PermissionDenied:
		kind = ErrPermission
	case codes.ResourceExhausted:
		kind = ErrExhausted
	case codes.AlreadyExists:
		kind = ErrConflict
	case codes.Canceled:
		kind = context.Canceled
	case codes.DeadlineExceeded:
		kind = context.DeadlineExceeded
	}
	return &remoteError{msg: st.Message(), kind: kind}
}

func parseIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: address %q: %v", ErrInvalid, s, err)
	}
	return ip.Unmap(), nil
}

type grpcServer struct {
	helperpb.UnimplementedHelperServer
	impl Helper
}

func (s *grpcServer) Version(ctx context.Context, _ *helperpb.VersionRequest) (*helperpb.VersionResponse, error) {
	v, err := s.impl.Version(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &helperpb.VersionResponse{Version: v.Version, Protocol: int32(v.Protocol), Sha256: v.SHA256, Os: v.OS, Arch: v.Arch}, nil
}

func (s *grpcServer) AllocateAddress(ctx context.Context, _ *helperpb.AllocateAddressRequest) (*helperpb.AllocateAddressResponse, error) {
	ip, err := s.impl.AllocateAddress(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &helperpb.AllocateAddressResponse{Ip: ip.String()}, nil
}

func (s *grpcServer) addr(ctx context.Context, req *helperpb.AddressRequest, f func(context.Context, netip.Addr) error) (*helperpb.Empty, error) {
	ip, err := parseIP(req.GetIp())
	if err != nil {
		return nil, toStatus(err)
	}
	return &helperpb.Empty{}, toStatus(f(ctx, ip))
}

func (s *grpcServer) ReleaseAddress(ctx context.Context, req *helperpb.AddressRequest) (*helperpb.Empty, error) {
	return s.addr(ctx, req, s.impl.ReleaseAddress)
}

func (s *grpcServer) AddLoopbackAlias(ctx context.Context, req *helperpb.AddressRequest) (*helperpb.Empty, error) {
	return s.addr(ctx, req, s.impl.AddLoopbackAlias)
}

func (s *grpcServer) RemoveLoopbackAlias(ctx context.Context, req *helperpb.AddressRequest) (*helperpb.Empty, error) {
	return s.addr(ctx, req, s.impl.RemoveLoopbackAlias)
}

func (s *grpcServer) BindListener(ctx context.Context, req *helperpb.BindListenerRequest) (*helperpb.Empty, error) {
	ip, err := parseIP(req.GetIp())
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetPort() > 65535 {
		return nil, toStatus(fmt.Errorf("%w: port %d is outside 0-65535", ErrInvalid, req.GetPort()))
	}
	err = s.impl.BindListener(ctx, BindRequest{Network: req.GetNetwork(), IP: ip, Port: uint16(req.GetPort()), ID: req.GetId()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &helperpb.Empty{}, nil
}

func (s *grpcServer) SetHosts(ctx context.Context, req *helperpb.SetHostsRequest) (*helperpb.Empty, error) {
	entries := make([]HostEntry, 0, len(req.GetEntries()))
	for _, e := range req.GetEntries() {
		ip, err := parseIP(e.GetIp())
		if err != nil {
			return nil, toStatus(err)
		}
		entries = append(entries, HostEntry{IP: ip, Names: e.GetNames()})
	}
	if err := s.impl.SetHosts(ctx, req.GetLease(), entries); err != nil {
		return nil, toStatus(err)
	}
	return &helperpb.Empty{}, nil
}

func (s *grpcServer) ListHosts(ctx context.Context, _ *helperpb.ListHostsRequest) (*helperpb.ListHostsResponse, error) {
	hosts, err := s.impl.ListHosts(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &helperpb.ListHostsResponse{}
	for _, h := range hosts {
		resp.Hosts = append(resp.Hosts, &helperpb.ManagedHost{Ip: h.IP.String(), Names: h.Names, Uid: h.UID, Session: h.Session, Lease: h.Lease})
	}
	return resp, nil
}

// GRPCClient is the forwarder-side Helper over gRPC.
type GRPCClient struct {
	c helperpb.HelperClient
}

var _ Helper = (*GRPCClient)(nil)

func (c *GRPCClient) Version(ctx context.Context) (VersionInfo, error) {
	r, err := c.c.Version(ctx, &helperpb.VersionRequest{})
	if err != nil {
		return VersionInfo{}, fromStatus(err)
	}
	return VersionInfo{Version: r.GetVersion(), Protocol: int(r.GetProtocol()), SHA256: r.GetSha256(), OS: r.GetOs(), Arch: r.GetArch()}, nil
}

func (c *GRPCClient) AllocateAddress(ctx context.Context) (netip.Addr, error) {
	r, err := c.c.AllocateAddress(ctx, &helperpb.AllocateAddressRequest{})
	if err != nil {
		return netip.Addr{}, fromStatus(err)
	}
	ip, err := netip.ParseAddr(r.GetIp())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("helper returned a bad address %q: %w", r.GetIp(), err)
	}
	return ip, nil
}

func (c *GRPCClient) ReleaseAddress(ctx context.Context, ip netip.Addr) error {
	_, err := c.c.ReleaseAddress(ctx, &helperpb.AddressRequest{Ip: ip.String()})
	return fromStatus(err)
}

func (c *GRPCClient) AddLoopbackAlias(ctx context.Context, ip netip.Addr) error {
	_, err := c.c.AddLoopbackAlias(ctx, &helperpb.AddressRequest{Ip: ip.String()})
	return fromStatus(err)
}

func (c *GRPCClient) RemoveLoopbackAlias(ctx context.Context, ip netip.Addr) error {
	_, err := c.c.RemoveLoopbackAlias(ctx, &helperpb.AddressRequest{Ip: ip.String()})
	return fromStatus(err)
}

func (c *GRPCClient) BindListener(ctx context.Context, req BindRequest) error {
	_, err := c.c.BindListener(ctx, &helperpb.BindListenerRequest{Network: req.Network, Ip: req.IP.String(), Port: uint32(req.Port), Id: req.ID})
	return fromStatus(err)
}

func (c *GRPCClient) SetHosts(ctx context.Context, lease string, entries []HostEntry) error {
	req := &helperpb.SetHostsRequest{Lease: lease}
	for _, e := range entries {
		req.Entries = append(req.Entries, &helperpb.HostEntry{Ip: e.IP.String(), Names: e.Names})
	}
	_, err := c.c.SetHosts(ctx, req)
	return fromStatus(err)
}

func (c *GRPCClient) ListHosts(ctx context.Context) ([]ManagedHost, error) {
	r, err := c.c.ListHosts(ctx, &helperpb.ListHostsRequest{})
	if err != nil {
		return nil, fromStatus(err)
	}
	out := make([]ManagedHost, 0, len(r.GetHosts()))
	for _, h := range r.GetHosts() {
		ip, err := netip.ParseAddr(h.GetIp())
		if err != nil {
			return nil, fmt.Errorf("helper returned a bad address %q: %w", h.GetIp(), err)
		}
		out = append(out, ManagedHost{HostEntry: HostEntry{IP: ip, Names: h.GetNames()}, UID: h.GetUid(), Session: h.GetSession(), Lease: h.GetLease()})
	}
	return out, nil
}
