package tray

import (
	"bytes"
	"image/png"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kftray-go/kftray/localapi"
)

// TestDeps: the tray is a client of the local API; it links neither
// SQLite, client-go nor gRPC.
func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"modernc.org/sqlite", "k8s.io/client-go", "google.golang.org/grpc", "github.com/kftray-go/kftray/store", "github.com/kftray-go/kftray/forwarder"} {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("ui/tray links %s", dep)
			}
		}
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestLimiter: one notification per forward per 30 s, at most 4 a minute.
func TestLimiter(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(c.now)
	if !l.allow(1) || l.allow(1) {
		t.Fatal("the same forward twice at once")
	}
	c.t = c.t.Add(perForward - time.Second)
	if l.allow(1) {
		t.Fatal("the same forward within perForward")
	}
	c.t = c.t.Add(time.Second)
	if !l.allow(1) {
		t.Fatal("the same forward after perForward")
	}
	// Burst across forwards: 2 sent so far in this window.
	if !l.allow(2) || !l.allow(3) || l.allow(4) {
		t.Fatal("the burst across forwards")
	}
	c.t = c.t.Add(window)
	if !l.allow(4) {
		t.Fatal("a new window")
	}
}

func fwd(status string, attempt int) localapi.Forward {
	return localapi.Forward{ID: 1, Name: "web", Status: status, Attempt: attempt, LastError: "boom", Address: "127.0.0.1:8080", Pod: "web-1"}
}

// TestNews: what is worth a notification.
func TestNews(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prev, f  localapi.Forward
		want     string
		urgent   bool
		wantNone bool
	}{
		{name: "fails", prev: fwd("running", 0), f: fwd("failed", 0), want: "web failed", urgent: true},
		{name: "still failed", prev: fwd("failed", 0), f: fwd("failed", 0), wantNone: true},
		{name: "first retries are not news", prev: fwd("running", 0), f: fwd("retrying", 1), wantNone: true},
		{name: "keeps failing", prev: fwd("retrying", 2), f: fwd("retrying", 3), want: "web keeps failing to connect", urgent: true},
		{name: "recovers after retrying", prev: fwd("retrying", 1), f: fwd("running", 0), want: "web recovered"},
		{name: "recovers after failing", prev: fwd("failed", 0), f: fwd("running", 0), want: "web recovered"},
		{name: "a start is not a recovery", prev: fwd("retrying", 0), f: fwd("running", 0), wantNone: true},
		{name: "stopped", prev: fwd("running", 0), f: fwd("stopped", 0), wantNone: true},
	} {
		n, ok := news(tc.prev, tc.f)
		if ok == tc.wantNone || (ok && (n.Summary != tc.want || n.Urgent != tc.urgent)) {
			t.Errorf("%s: %+v %v", tc.name, n, ok)
		}
	}
	n, _ := news(fwd("retrying", 1), fwd("running", 0))
	if n.Body != "running on 127.0.0.1:8080 → pod web-1" {
		t.Errorf("recovered body %q", n.Body)
	}
}

// TestStateNotifiesOnlyChangesItSaw: the first listing and forwards it has
// not seen are not news.
func TestStateNotifiesOnlyChangesItSaw(t *testing.T) {
	s := newState(nil)
	s.reset([]localapi.Forward{fwd("failed", 0)})
	if _, ok := s.apply(fwd("failed", 0)); ok {
		t.Fatal("the snapshot of a failed forward notified")
	}
	other := fwd("failed", 0)
	other.ID = 2
	if _, ok := s.apply(other); ok {
		t.Fatal("a forward never seen before notified")
	}
	if n, ok := s.apply(fwd("running", 0)); !ok || n.Summary != "web recovered" {
		t.Fatalf("recovery: %+v %v", n, ok)
	}
}

// TestMenu: labels, check marks, the failing flag and the header.
func TestMenu(t *testing.T) {
	s := newState(nil)
	b := fwd("retrying", 2)
	b.ID, b.Name, b.LastError = 2, "api", strings.Repeat("x", 100)
	s.reset([]localapi.Forward{fwd("running", 0), b, {ID: 3, Name: "db", Status: "stopped"}})
	m := s.menu()
	if m.Header != "kftray: 1 of 3 running, 1 failing" || !m.Failing || m.Tooltip != m.Header+": api" {
		t.Fatalf("menu %+v", m)
	}
	want := []Entry{
		{ID: 2, Label: "api — retrying: " + strings.Repeat("x", 59) + "…", Checked: true},
		{ID: 3, Label: "db — stopped"},
		{ID: 1, Label: "web — 127.0.0.1:8080", Checked: true},
	}
	for i, e := range want {
		if m.Forwards[i] != e {
			t.Errorf("entry %d: %+v, want %+v", i, m.Forwards[i], e)
		}
	}
	s.down()
	if m := s.menu(); m.Live || len(m.Forwards) != 0 || !strings.Contains(m.Header, "not running") {
		t.Fatalf("down: %+v", m)
	}
}

// TestIcon: a PNG; the failing one has its red dot.
func TestIcon(t *testing.T) {
	for _, failing := range []bool{false, true} {
		img, err := png.Decode(bytes.NewReader(Icon(failing)))
		if err != nil {
			t.Fatal(err)
		}
		r, g, b, _ := img.At(48, 48).RGBA()
		red := r>>8 > 0xc0 && g>>8 < 0x60 && b>>8 < 0x60
		if red != failing {
			t.Errorf("failing=%v: pixel (48,48) = %d,%d,%d", failing, r>>8, g>>8, b>>8)
		}
	}
}
