package addrpool

import (
	"errors"
	"net/netip"
	"testing"
)

func TestAllocateReleaseAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	pfx := netip.MustParsePrefix("127.77.0.0/30") // .1 and .2 usable
	a := &Pool{Prefix: pfx, Dir: dir}
	b := &Pool{Prefix: pfx, Dir: dir} // a second process sees the same state
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
