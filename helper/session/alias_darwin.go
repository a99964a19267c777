package session

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"time"
)

// macOS only answers on 127.0.0.1 until an alias is added to lo0.
type aliaser struct{}

const ifconfig = "/sbin/ifconfig"

func run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ifconfig, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w: %s", ifconfig, args, err, out)
	}
	return nil
}

func (aliaser) add(ctx context.Context, ip netip.Addr) error {
	return run(ctx, "lo0", "alias", ip.String(), "up")
}

func (aliaser) remove(ctx context.Context, ip netip.Addr) error { return RemoveAlias(ctx, ip) }

// RemoveAlias is what the launcher calls for a dead session's addresses.
func RemoveAlias(ctx context.Context, ip netip.Addr) error {
	return run(ctx, "lo0", "-alias", ip.String())
}
