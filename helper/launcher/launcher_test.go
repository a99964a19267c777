package launcher

import "testing"

func TestSessionLimits(t *testing.T) {
	s := &Service{perUID: map[uint32]int{}}
	for i := 0; i < MaxSessionsPerUID; i++ {
		if !s.reserve(1000) {
			t.Fatalf("session %d refused below the per-uid limit", i)
		}
	}
	if s.reserve(1000) {
		t.Fatal("per-uid limit not enforced")
	}
	s.release(1000)
	if !s.reserve(1000) {
		t.Fatal("a released slot was not reusable")
	}
	// Fill up with other users until the global limit bites.
	total := MaxSessionsPerUID
	for uid := uint32(2000); total < MaxSessions; uid++ {
		for i := 0; i < MaxSessionsPerUID && total < MaxSessions; i++ {
			if !s.reserve(uid) {
				t.Fatalf("refused at %d sessions, below the global limit", total)
			}
			total++
		}
	}
	if s.reserve(9999) {
		t.Fatal("global limit not enforced")
	}
}
