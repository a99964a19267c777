package forwarder

import (
	"os"
	"strconv"
	"strings"
)

// unprivilegedPortStart is net.ipv4.ip_unprivileged_port_start of this
// network namespace (1024 unless changed).
func unprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1024
	}
	return n
}

// On Linux all of 127.0.0.0/8 is routed to lo: any loopback IP binds.
func addressNeedsHelper(string) error { return nil }
