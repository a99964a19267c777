package addrpool

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
)

func TestParseProcAddr(t *testing.T) {
	// What the kernel prints for 127.0.0.1 on a little-endian machine.
	if got, err := parseProcAddr("0100007F"); binary.NativeEndian.Uint16([]byte{1, 0}) == 1 && (err != nil || got.String() != "127.0.0.1") {
		t.Errorf("parseProcAddr(0100007F) = %v, %v", got, err)
	}
	for _, tt := range []struct{ in, want string }{
		{encodeProc(netip.MustParseAddr("127.77.0.5")), "127.77.0.5"},
		{encodeProc(netip.MustParseAddr("::1")), "::1"},
	} {
		got, err := parseProcAddr(tt.in)
		if err != nil || got.String() != tt.want {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseProcAddr("zz"); err == nil {
		t.Error("parsed garbage")
	}
}

// BoundAddrs sees a socket this test binds.
func TestBoundAddrsSeesALiveSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback:", err)
	}
	defer ln.Close()
	got, err := BoundAddrs()
	if err != nil {
		t.Fatal(err)
	}
	if !got[netip.MustParseAddr("127.0.0.1")] {
		t.Fatalf("BoundAddrs misses 127.0.0.1: %v", got)
	}
}

// encodeProc is the kernel's %08X of each 32-bit word in host order.
func encodeProc(a netip.Addr) string {
	b := a.AsSlice()
	out := ""
	for i := 0; i < len(b); i += 4 {
		out += fmt.Sprintf("%08X", binary.NativeEndian.Uint32(b[i:i+4]))
	}
	return out
}
