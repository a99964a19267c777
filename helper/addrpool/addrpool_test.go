package addrpool

import (
	"errors"
	"net/netip"
	"testing"
)

func TestAllocateReleaseAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	pfx := netip.MustParsePrefix("127.77.0.0/30") // .1 and .2 usable
	a := &Pool{Prefix: pfx, Dir: dir, Bound: noneBound}
	b := &Pool{Prefix: pfx, Dir: dir, Bound: noneBound} // a second process sees the same state
	ip1, err := a.Allocate(1000, "s1")
	if err != nil {
		t.Fatal(err)
	}
	ip2, err := b.Allocate(1001, "s2")
	if err != nil {
		t.Fatal(err)
	}
	if ip1 == ip2 || ip1 != netip.MustParseAddr("127.77.0.1") || ip2 != netip.MustParseAddr("127.77.0.2") {
		t.Fatalf("got %s and %s", ip1, ip2)
	}
	if _, err := a.Allocate(1000, "s1"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("err = %v, want exhausted", err)
	}
	if err := a.Release("s1", ip2); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("released another session's address: %v", err)
	}
	if ok, _ := b.Owns("s2", ip2); !ok {
		t.Fatal("s2 does not own its address")
	}
	if err := b.ReleaseSession("s2"); err != nil {
		t.Fatal(err)
	}
	if ip, err := a.Allocate(1000, "s1"); err != nil || ip != ip2 {
		t.Fatalf("reuse after release: %s %v", ip, err)
	}
	if err := a.Reset(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Owns("s1", ip1); ok {
		t.Fatal("Reset kept an allocation")
	}
}

func noneBound() (map[netip.Addr]bool, error) { return nil, nil }

// An address with a socket bound to it (kept from an ended session, or
// bound directly) is skipped, whoever asks; listing failure allocates
// nothing.
func TestAllocateSkipsBoundAddresses(t *testing.T) {
	held := map[netip.Addr]bool{netip.MustParseAddr("127.77.0.1"): true}
	p := &Pool{Prefix: netip.MustParsePrefix("127.77.0.0/29"), Dir: t.TempDir(),
		Bound: func() (map[netip.Addr]bool, error) { return held, nil }}
	ip, err := p.Allocate(1000, "s1")
	if err != nil || ip != netip.MustParseAddr("127.77.0.2") {
		t.Fatalf("Allocate = %s, %v; want 127.77.0.2 (127.77.0.1 has a socket)", ip, err)
	}
	p.Bound = func() (map[netip.Addr]bool, error) { return nil, errors.New("no /proc") }
	if ip, err := p.Allocate(1000, "s1"); err == nil {
		t.Fatalf("Allocate = %s without knowing which addresses are bound", ip)
	}
}
