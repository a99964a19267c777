package addrpool

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// BoundAddrs lists the local IPv4 addresses of every TCP and UDP socket,
// from netstat (by absolute path): macOS has no /proc/net. Wildcard
// addresses ("*") are left out.
func BoundAddrs() (map[netip.Addr]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[netip.Addr]bool{}
	for _, proto := range []string{"tcp", "udp"} {
		b, err := exec.CommandContext(ctx, "/usr/sbin/netstat", "-an", "-f", "inet", "-p", proto).Output()
		if err != nil {
			return nil, fmt.Errorf("netstat -p %s: %w", proto, err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			f := strings.Fields(string(line))
			if len(f) < 4 || !strings.HasPrefix(f[0], proto) {
				continue
			}
			local := f[3] // a.b.c.d.port or *.port
			if i := strings.LastIndexByte(local, '.'); i > 0 {
				if a, err := netip.ParseAddr(local[:i]); err == nil {
					out[a.Unmap()] = true
				}
			}
		}
	}
	return out, nil
}
