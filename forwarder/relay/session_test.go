package relay

import (
	"testing"

	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

func TestSessions(t *testing.T) {
	key := DirKey("/home/me/.kftray")
	if key != DirKey("/home/me/.kftray") || key == DirKey("/home/me/other") || len(key) != 8 {
		t.Fatalf("DirKey %q: want 8 hex characters, stable, different per directory", key)
	}
	d, r := DaemonSession(key), RunSession(4242)
	for _, s := range []string{d, r} {
		if manifest.LabelValue(s) != s || len(manifest.Name(123456, s)) > 63 {
			t.Fatalf("session %q is not a label value or makes too long a name", s)
		}
	}
	if so, ok := ParseSession(d); !ok || !so.Daemon || so.DirKey != key {
		t.Fatalf("ParseSession(%q) = %+v %v", d, so, ok)
	}
	if so, ok := ParseSession(r); !ok || so.Daemon || so.PID != 4242 {
		t.Fatalf("ParseSession(%q) = %+v %v", r, so, ok)
	}
	for _, s := range []string{"", "killed", "live", "3fa2c1d9", "dxyz-1", "r-1", "r0-ab", "d12-ab"} {
		if so, ok := ParseSession(s); ok {
			t.Errorf("ParseSession(%q) = %+v: want not ours", s, so)
		}
	}

	me := Owner{User: "me", Host: "h", Session: DaemonSession(key)}
	alive := func(pid int) bool { return pid == 1 }
	for _, tc := range []struct {
		name string
		r    Info
		want bool
	}{
		{"an earlier daemon of this directory", Info{OwnerUser: "me", OwnerHost: "h", OwnerSession: DaemonSession(key)}, true},
		{"this daemon", Info{OwnerUser: "me", OwnerHost: "h", OwnerSession: me.Session}, false},
		{"a daemon of another directory", Info{OwnerUser: "me", OwnerHost: "h", OwnerSession: DaemonSession(DirKey("/other"))}, false},
		{"a dead kftray run", Info{OwnerUser: "me", OwnerHost: "h", OwnerSession: RunSession(2)}, true},
		{"a live kftray run", Info{OwnerUser: "me", OwnerHost: "h", OwnerSession: RunSession(1)}, false},
		{"an old-style session", Info{OwnerUser: "me", OwnerHost: "h", OwnerSession: "3fa2c1d9"}, false},
		{"another user's", Info{OwnerUser: "bob", OwnerHost: "h", OwnerSession: DaemonSession(key)}, false},
		{"another host's", Info{OwnerUser: "me", OwnerHost: "h2", OwnerSession: DaemonSession(key)}, false},
	} {
		if got := me.DeadSession(tc.r, key, alive); got != tc.want {
			t.Errorf("%s: DeadSession = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStatusFor(t *testing.T) {
	key := DirKey("/home/me/.kftray")
	me := Owner{User: "me", Host: "h", Session: DaemonSession(key)}
	alive := func(pid int) bool { return pid == 1 }
	notUsed := func(Info) bool { return false }
	for _, tc := range []struct {
		session, user string
		want          Status
	}{
		{me.Session, "me", InUse},                             // this daemon's, maybe starting
		{DaemonSession(key), "me", Orphan},                    // an earlier daemon of this directory
		{DaemonSession(DirKey("/other")), "me", OtherSession}, // another directory's daemon
		{RunSession(1), "me", InUse},                          // a live kftray run
		{RunSession(2), "me", Orphan},                         // a dead kftray run
		{"3fa2c1d9", "me", Orphan},                            // an older kftray: the user decides
		{DaemonSession(key), "bob", OtherOwner},
	} {
		r := Info{OwnerUser: tc.user, OwnerHost: "h", OwnerSession: tc.session}
		if got := me.StatusFor(r, key, notUsed, alive); got != tc.want {
			t.Errorf("session %q of %s: %q, want %q", tc.session, tc.user, got, tc.want)
		}
	}
}
