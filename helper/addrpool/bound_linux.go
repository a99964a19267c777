package addrpool

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// BoundAddrs lists the local addresses of every TCP and UDP socket some
// process holds in this network namespace (listening, connected or just
// bound), from /proc/net. Kernel-only leftovers with no socket inode
// (TIME_WAIT, half-open requests, orphans closing down) can receive
// nothing new and are left out, as are wildcard addresses (they name no
// single address). IPv4-mapped IPv6 addresses are unmapped.
func BoundAddrs() (map[netip.Addr]bool, error) {
	out := map[netip.Addr]bool{}
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
		if err := readProcNet("/proc/net/"+name, out); err != nil {
			if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(name, "6") {
				continue // no IPv6 in this kernel
			}
			return nil, err
		}
	}
	return out, nil
}

func readProcNet(path string, out map[netip.Addr]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			return fmt.Errorf("%s: unexpected line %q", path, sc.Text())
		}
		if fields[9] == "0" {
			continue // no process holds it
		}
		hexAddr, _, ok := strings.Cut(fields[1], ":")
		if !ok {
			return fmt.Errorf("%s: unexpected line %q", path, sc.Text())
		}
		a, err := parseProcAddr(hexAddr)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if a = a.Unmap(); !a.IsUnspecified() {
			out[a] = true
		}
	}
	return sc.Err()
}

// parseProcAddr decodes /proc/net's address: the kernel prints each 32-bit
// word of the network-order address as a host-order integer.
func parseProcAddr(h string) (netip.Addr, error) {
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, fmt.Errorf("bad address %q", h)
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return a, nil
}
