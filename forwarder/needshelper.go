package forwarder

import (
	"errors"

	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
)

// NeedsHelper reports whether cfg's forward cannot bind without the root
// helper for this user here (a port below the unprivileged start, an
// allocated loopback address, a hostname, on macOS a loopback address
// other than 127.0.0.1), and why. It asks what the forward would ask
// (Spec and the relay path build the same request).
func NeedsHelper(cfg fwdconfig.Config) (bool, string) {
	network := "tcp"
	if relay.Needed(cfg) && cfg.Protocol == fwdconfig.ProtocolUDP {
		network = "udp"
	}
	req := BindRequest{ConfigID: cfg.ID, Network: network, IP: cfg.LocalAddress, Port: cfg.LocalPort, AutoLoopback: cfg.AutoLoopbackAddress}
	if cfg.DomainEnabled && cfg.Alias != "" {
		req.Hostnames = []string{cfg.Alias}
	}
	if _, err := directAddr(req, ""); errors.Is(err, ErrNeedsHelper) {
		return true, err.Error()
	}
	return false, ""
}
