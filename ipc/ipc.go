// Package ipc is the contract between the unprivileged forwarder and the root
// kftray-helper: the go-plugin handshake and plugin map, the Helper interface
// with its gRPC adapters both ways, and the launcher's session messages.
package ipc

import (
	"context"
	"net/netip"

	"github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the go-plugin protocol both sides negotiate. Bump it
// (and add a VersionedPlugins entry) when the RPC surface changes
// incompatibly.
const ProtocolVersion = 1

// PluginName is the single plugin the helper serves.
const PluginName = "helper"

// Handshake is shared by the forwarder and the helper. The cookie only stops
// someone running the helper binary by hand by mistake; it is not security.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "KFTRAY_HELPER_PLUGIN",
	MagicCookieValue: "8c1f6c2e-kftray-helper",
}

// PluginMap returns the versioned plugin sets. impl is nil on the client side.
func PluginMap(impl Helper) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &HelperPlugin{Impl: impl}},
	}
}

// VersionInfo describes the running helper.
type VersionInfo struct {
	Version  string // semver of the helper build
	Protocol int    // go-plugin protocol served
	SHA256   string // hex sha256 of the running binary, computed by root
	OS, Arch string
}

// BindRequest asks the helper to bind a loopback socket. The bound
// descriptor arrives on the fd channel in the frame with ID.
type BindRequest struct {
	Network string // "tcp" or "udp"
	IP      netip.Addr
	Port    uint16
	ID      uint64
}

// HostEntry maps names to one loopback address.
type HostEntry struct {
	IP    netip.Addr
	Names []string
}

// ManagedHost is one line of the managed hosts block.
type ManagedHost struct {
	HostEntry
	UID     uint32
	Session string
	Lease   string
}

// Helper is everything the helper does for a forwarder. There is no exec,
// no file write, no chown and no client-supplied path.
type Helper interface {
	Version(ctx context.Context) (VersionInfo, error)
	AllocateAddress(ctx context.Context) (netip.Addr, error)
	ReleaseAddress(ctx context.Context, ip netip.Addr) error
	AddLoopbackAlias(ctx context.Context, ip netip.Addr) error
	RemoveLoopbackAlias(ctx context.Context, ip netip.Addr) error
	BindListener(ctx context.Context, req BindRequest) error
	SetHosts(ctx context.Context, lease string, entries []HostEntry) error
	ListHosts(ctx context.Context) ([]ManagedHost, error)
}
