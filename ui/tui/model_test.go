package tui

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// Golden screens (go test ./ui/tui -run Golden -update rewrites them).

func TestGoldenList(t *testing.T) {
	hs := start(t, newMem(fixture()...), 80, 24)
	hs.loaded(4)
	hs.traffic(1, 1000, 4000, 0, 8000, 2000)
	requireGolden(t, hs.settle())
}

func TestGoldenListWide(t *testing.T) {
	hs := start(t, newMem(fixture()...), 120, 30)
	hs.loaded(4)
	hs.traffic(1, 1000, 4000, 0, 8000, 2000)
	hs.keys("j") // the retrying one: attempt, next try and error below
	requireGolden(t, hs.settle())
}

func TestGoldenGrouped(t *testing.T) {
	hs := start(t, newMem(fixture()...), 80, 24)
	hs.loaded(4)
	hs.keys("g", "G", "k", "k", "left") // G: dns, k: kube-system, k: prod, left folds prod
	m := hs.settle()
	if !m.grouped {
		t.Fatal("g did not group")
	}
	requireGolden(t, m)
}

func TestGoldenFilter(t *testing.T) {
	hs := start(t, newMem(fixture()...), 80, 24)
	hs.loaded(4)
	hs.keys("/")
	hs.typeText("dev def")
	m := hs.settle()
	if got := len(m.items()); got != 2 {
		t.Fatalf("filter %q shows %d rows, want web and api.dev.test", m.filter.Value(), got)
	}
	requireGolden(t, m)
}

func TestGoldenFormErrors(t *testing.T) {
	hs := start(t, newMem(fixture()...), 80, 24)
	hs.loaded(4)
	hs.keys("a")
	hs.waitFor("the form", func(m Model) bool { return m.mode == modeForm })
	// name: "123" (all digits), namespace: "Bad_NS", no service,
	// remote port: "http".
	hs.typeText("123")
	hs.keys("tab", "tab", "tab", "tab", "tab", "ctrl+u")
	hs.typeText("Bad_NS")
	hs.keys("tab", "tab")
	hs.typeText("http")
	hs.keys("enter")
	m := hs.waitFor("the form's errors", func(m Model) bool { return m.form != nil && len(m.form.errs) > 0 })
	for field, want := range map[string]string{
		"alias":       `"123" is all digits, which reads as a config id; add a letter`,
		"namespace":   `"Bad_NS" is not a valid namespace name`,
		"service":     "required for workload_type service",
		"remote_port": `"http" is not a number`,
	} {
		if got := m.form.errs[field]; !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	if calls := hs.b.Calls(); len(calls) != 0 {
		t.Errorf("an invalid form reached the daemon: %v", calls)
	}
	requireGolden(t, m)
}

func TestGoldenHelp(t *testing.T) {
	hs := start(t, newMem(fixture()...), 80, 24)
	hs.loaded(4)
	hs.keys("?")
	m := hs.settle()
	requireGolden(t, m)
	hs.keys("x") // any key closes it, and does nothing else
	if m := hs.settle(); m.mode != modeList || len(hs.b.Calls()) != 0 {
		t.Fatalf("after a key on the help: mode %d, calls %v", m.mode, hs.b.Calls())
	}
}

func TestGoldenEmpty(t *testing.T) {
	hs := start(t, newMem(), 80, 24)
	requireGolden(t, hs.waitFor("live", func(m Model) bool { return m.conn == connLive }))
}

// notRunning is a daemon that is not there.
type notRunning struct{ *memBackend }

var errGone = errors.New("the kftray daemon is not running (nothing listens on /home/me/.kftray/kftray.sock)")

func (notRunning) Forwards(context.Context) ([]localapi.Forward, error) { return nil, errGone }
func (notRunning) Events(context.Context, func(localapi.Event) error) error {
	return errGone
}

func TestGoldenDaemonUnreachable(t *testing.T) {
	ensured := make(chan struct{}, 1)
	b := notRunning{newMem()}
	hs := start(t, newMem(), 80, 24, func(o *Options) {
		o.Backend = b
		o.Ensure = func(context.Context) error { ensured <- struct{}{}; return errors.New("no kftray program") }
	})
	m := hs.waitFor("the daemon to be unreachable", func(m Model) bool { return m.conn == connDown })
	requireGolden(t, m)
	hs.keys("ctrl+r")
	<-ensured
	m = hs.waitFor("the failed start", func(m Model) bool { return m.flashErr })
	if !strings.Contains(m.flash, "could not start the daemon: no kftray program") {
		t.Fatalf("flash %q", m.flash)
	}
}

// Behaviour.

func TestStartStopToggle(t *testing.T) {
	b := newMem(fixture()...)
	hs := start(t, b, 80, 24)
	hs.loaded(4)
	// Sorted by name: api.dev.test (stopped), db, dns, web.
	hs.keys("enter")
	m := hs.waitFor("api started", func(m Model) bool { return m.entries[4].f.Status == localapi.StatusRunning })
	if m.flash != "api.dev.test started" {
		t.Errorf("flash %q", m.flash)
	}
	hs.keys("G", "enter") // web runs: enter stops it
	hs.waitFor("web stopped", func(m Model) bool { return m.entries[1].f.Status == localapi.StatusStopped })
	hs.keys("k", "x") // stop dns (failed)
	hs.waitFor("dns stopped", func(m Model) bool { return m.entries[3].f.Status == localapi.StatusStopped })
	hs.keys("k", "s") // start db (retrying)
	hs.waitFor("db started", func(m Model) bool { return m.entries[2].f.Status == localapi.StatusRunning })
	want := []string{"start 4", "stop 1", "stop 3", "start 2"}
	if got := b.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	if got := hs.settle().StartedHere(); !slices.Equal(got, []int64{2, 4}) {
		t.Errorf("started here: %v", got)
	}
}

func TestMultiSelectAndAll(t *testing.T) {
	b := newMem(fixture()...)
	hs := start(t, b, 80, 24)
	hs.loaded(4)
	hs.keys("space", "j", "space") // api.dev.test and dns (space moves down)
	m := hs.settle()
	if len(m.selected) != 2 || !m.selected[4] || !m.selected[3] {
		t.Fatalf("selected %v", m.selected)
	}
	hs.keys("s")
	hs.waitFor("both started", func(m Model) bool {
		return m.entries[3].f.Status == localapi.StatusRunning && m.entries[4].f.Status == localapi.StatusRunning
	})
	hs.keys("esc", "X")
	hs.waitFor("all stopped", func(m Model) bool {
		for _, e := range m.entries {
			if e.f.Status != localapi.StatusStopped {
				return false
			}
		}
		return true
	})
	hs.keys("ctrl+a")
	if m := hs.settle(); len(m.selected) != 4 {
		t.Fatalf("ctrl+a selected %d", len(m.selected))
	}
	hs.keys("ctrl+a")
	if m := hs.settle(); len(m.selected) != 0 {
		t.Fatalf("second ctrl+a left %d selected", len(m.selected))
	}
	want := []string{"start 4,3", "stop 4,2,3,1"}
	if got := b.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
}

func TestDeleteAsksFirst(t *testing.T) {
	b := newMem(fixture()...)
	hs := start(t, b, 80, 24)
	hs.loaded(4)
	hs.keys("j", "d")
	m := hs.settle()
	if m.mode != modeConfirm || !strings.Contains(m.confirm.question, "delete db?") {
		t.Fatalf("d: mode %d, footer %q", m.mode, m.footer())
	}
	hs.keys("n")
	if m := hs.settle(); len(m.entries) != 4 || len(b.Calls()) != 0 {
		t.Fatalf("n deleted something: %v", b.Calls())
	}
	hs.keys("d", "y")
	m = hs.waitFor("db gone", func(m Model) bool { return len(m.entries) == 3 && m.entries[2] == nil })
	if got := b.Calls(); !slices.Equal(got, []string{"delete 2"}) {
		t.Fatalf("calls %v", got)
	}
	if m.flash != "deleted db" {
		t.Errorf("flash %q", m.flash)
	}
}

func TestCopyAndOpen(t *testing.T) {
	hs := start(t, newMem(fixture()...), 80, 24)
	hs.loaded(4)
	hs.keys("G", "c", "C", "w") // web, running on 127.0.0.1:8080
	// The three run concurrently; each reports back to Update when done.
	var copied, opened []string
	hs.waitFor("two copies and the browser", func(m Model) bool {
		hs.d.mu.Lock()
		defer hs.d.mu.Unlock()
		copied, opened = slices.Clone(hs.d.copied), slices.Clone(hs.d.opened)
		return len(copied) == 2 && len(opened) == 1
	})
	slices.Sort(copied)
	if !slices.Equal(copied, []string{"127.0.0.1:8080", "http://127.0.0.1:8080/"}) || !slices.Equal(opened, []string{"http://127.0.0.1:8080/"}) {
		t.Fatalf("copied %v, opened %v", copied, opened)
	}
	// A stopped forward has nothing to open: it says so.
	hs.keys("home", "w")
	m := hs.waitFor("the refusal", func(m Model) bool { return m.flashErr })
	if !strings.Contains(m.flash, "api.dev.test has no address") {
		t.Fatalf("flash %q", m.flash)
	}
}

func TestHostnameAddress(t *testing.T) {
	f := fixture()[3]
	f.Status, f.Address = localapi.StatusRunning, "127.0.0.2:443"
	if got := hostPort(f); got != "api.dev.test:443" {
		t.Fatalf("hostPort %q", got)
	}
}

func TestImportAndExport(t *testing.T) {
	b := newMem(fixture()...)
	hs := start(t, b, 80, 24)
	dir := hs.settle().opts.StartDir
	in := filepath.Join(dir, "team.json")
	if err := os.WriteFile(in, []byte(`[{"alias":"cache","namespace":"data","workload_type":"service","service":"redis","remote_port":6379,"protocol":"tcp"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	hs.loaded(4)
	hs.keys("i")
	hs.waitFor("the picker", func(m Model) bool { return m.mode == modeImport })
	hs.waitFor("the directory listing", func(m Model) bool { return m.picker != nil && m.picker.fp.HighlightedPath() == in })
	hs.keys("enter")
	m := hs.waitFor("the import", func(m Model) bool { return len(m.entries) == 5 })
	if !strings.Contains(m.flash, "1 added") {
		t.Errorf("flash %q", m.flash)
	}

	hs.keys("E")
	hs.waitFor("the export screen", func(m Model) bool { return m.mode == modeExport })
	hs.keys("enter")
	hs.waitFor("the export", func(m Model) bool { return strings.HasPrefix(m.flash, "exported") })
	data, err := os.ReadFile(filepath.Join(dir, exportName))
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := fwdconfig.ParseConfigs(data)
	if err != nil || len(cfgs) != 5 {
		t.Fatalf("exported %d configs (%v)", len(cfgs), err)
	}
	// Never over an existing file.
	hs.keys("E", "enter")
	m = hs.waitFor("the refusal", func(m Model) bool { return m.flashErr })
	if !strings.Contains(m.flash, "file exists") {
		t.Fatalf("flash %q", m.flash)
	}
}

func TestAddThroughForm(t *testing.T) {
	b := newMem(fixture()...)
	hs := start(t, b, 80, 24)
	hs.loaded(4)
	hs.keys("a")
	hs.typeText("cache")
	hs.keys("tab", "tab", "tab", "tab", "tab", "ctrl+u")
	hs.typeText("data")
	hs.keys("tab")
	hs.typeText("redis")
	hs.keys("tab")
	hs.typeText("6379")
	hs.keys("enter")
	m := hs.waitFor("the new row", func(m Model) bool { return len(m.entries) == 5 && m.mode == modeList })
	if got := b.Calls(); !slices.Equal(got, []string{"import cache"}) {
		t.Fatalf("calls %v", got)
	}
	if it, _ := m.current(); it.e == nil || it.e.f.Name != "cache" || it.e.f.Config.Service != "redis" || it.e.f.Config.RemotePort != 6379 {
		t.Fatalf("cursor on %+v", it.e)
	}
}

func TestFormFieldsFollowWorkload(t *testing.T) {
	f := newForm(0, fwdconfig.Config{WorkloadType: "proxy", Protocol: "udp"})
	var shown []string
	for i, fl := range f.fields {
		if f.visible(i) {
			shown = append(shown, fl.key)
		}
	}
	for _, want := range []string{"remote_address", "remote_port", "protocol"} {
		if !slices.Contains(shown, want) {
			t.Errorf("proxy form lacks %s: %v", want, shown)
		}
	}
	for _, not := range []string{"service", "target", "exposure_type"} {
		if slices.Contains(shown, not) {
			t.Errorf("proxy form shows %s", not)
		}
	}
	c, errs := f.config()
	if len(errs) != 0 || c.Protocol != "udp" || c.WorkloadType != "proxy" {
		t.Fatalf("config %+v %v", c, errs)
	}
}

func TestSparklineFromCounterDeltas(t *testing.T) {
	var tr traffic
	tr.observe(t0, 5000) // first sight: no delta
	tr.observe(t0.Add(time.Second), 5100)
	tr.observe(t0.Add(3*time.Second), 5900)
	got := sparkline(tr.rate(t0.Add(3 * time.Second)))
	if got != "     ▁ █" {
		t.Fatalf("sparkline %q", got)
	}
	// Eight quiet seconds later it is empty again.
	if got := sparkline(tr.rate(t0.Add(11 * time.Second))); strings.TrimSpace(got) != "" {
		t.Fatalf("idle sparkline %q", got)
	}
	// Counters that restart (the forward restarted) are not a negative rate.
	tr.observe(t0.Add(12*time.Second), 10)
	if got := sparkline(tr.rate(t0.Add(12 * time.Second))); strings.TrimSpace(got) != "" {
		t.Fatalf("after a restart %q", got)
	}
}

func TestResizeAndMouse(t *testing.T) {
	hs := start(t, newMem(fixture()...), 80, 24)
	hs.loaded(4)
	hs.tm.Send(tea.WindowSizeMsg{Width: 50, Height: 12})
	m := hs.settle()
	for i, l := range strings.Split(m.Render(), "\n") {
		if w := len([]rune(stripped(l))); w > 50 {
			t.Fatalf("line %d is %d wide at 50 columns: %q", i, w, l)
		}
	}
	if n := strings.Count(m.Render(), "\n") + 1; n != 12 {
		t.Fatalf("%d lines at 12 rows", n)
	}
	// Rows start below the title and the column header: row 4 is dns.
	hs.tm.Send(tea.MouseClickMsg{X: 5, Y: 4, Button: tea.MouseLeft})
	m = hs.settle()
	if it, _ := m.current(); it.e == nil || it.e.f.Name != "dns" {
		t.Fatalf("click on the third row put the cursor on %+v", it)
	}
}

func stripped(s string) string { return strings.TrimRight(ansi.Strip(s), " ") }

func TestQuitKeepsForwards(t *testing.T) {
	hs := start(t, newMem(fixture()...), 80, 24)
	hs.loaded(4)
	hs.keys("q")
	fm := hs.tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(probe).m
	if fm.Running() != 2 || len(hs.b.Calls()) != 0 {
		t.Fatalf("after q: %d running, calls %v", fm.Running(), hs.b.Calls())
	}
}

func TestEventsUpdateAndReconnect(t *testing.T) {
	b := newMem(fixture()...)
	hs := start(t, b, 80, 24)
	hs.loaded(4)
	f := fixture()[0]
	f.Pod, f.Reconnects = "web-7d9c8b5f4-zz9q1", 2
	b.events <- localapi.Event{Type: "forward", Forward: &f}
	hs.waitFor("the new pod", func(m Model) bool { return m.entries[1].f.Pod == "web-7d9c8b5f4-zz9q1" })
	// The daemon stops: kftui says so and how to start it again.
	b.events <- localapi.Event{Type: "shutdown"}
	close(b.events)
	m := hs.waitFor("the daemon gone", func(m Model) bool { return m.conn == connDown })
	if !strings.Contains(screen(m), "cannot reach the kftray daemon: the kftray daemon stopped") {
		t.Fatalf("screen:\n%s", screen(m))
	}
}

func TestLongFormScrolls(t *testing.T) {
	hs := start(t, newMem(), 80, 12)
	hs.keys("a", "tab", "right", "right", "right") // workload expose: the longest form
	for range 10 {
		hs.keys("tab")
	}
	m := hs.settle()
	scr := screen(m)
	if !strings.Contains(scr, "> ingress class") || !strings.HasPrefix(scr, "add a config") {
		t.Fatalf("the focused field is not in view at 12 rows:\n%s", scr)
	}
}

// A snapshot event read before a start answer arrived must not undo it.
func TestOlderStateDoesNotWin(t *testing.T) {
	m := New(context.Background(), Options{Backend: newMem(), Now: func() time.Time { return t0 }})
	m.subGen = 1
	fresh := fixture()[3]
	fresh.Status, fresh.UpdatedAt = localapi.StatusRunning, t0.Add(2*time.Millisecond)
	nm, _ := m.Update(resultsMsg{verb: "start", res: localapi.Results{Results: []localapi.Result{{Ref: "4", Forward: &fresh}}}})
	stale := fixture()[3] // stopped, at t0
	nm, _ = nm.(Model).Update(eventMsg{gen: 1, ev: localapi.Event{Type: "forward", Forward: &stale}})
	nm, _ = nm.(Model).Update(loadedMsg{fwds: []localapi.Forward{stale}})
	if got := nm.(Model).entries[4].f.Status; got != localapi.StatusRunning {
		t.Fatalf("status %s after older news; want running", got)
	}
}

// NO_COLOR: the screen has no color sequences, only attributes (bold,
// reverse) and the > and * marks.
func TestNoColor(t *testing.T) {
	colored := func(noColor bool) bool {
		m := New(context.Background(), Options{Backend: newMem(), Now: func() time.Time { return t0 }, NoColor: noColor})
		m.conn = connLive
		for _, f := range fixture() {
			m.apply(f)
		}
		m.fixCursor()
		s := m.Render()
		for _, sgr := range []string{"\x1b[31", "\x1b[32", "\x1b[33", "\x1b[34", "\x1b[90", "\x1b[38;"} {
			if strings.Contains(s, sgr) {
				return true
			}
		}
		return false
	}
	if colored(true) {
		t.Fatal("NoColor screen has colors")
	}
	if !colored(false) {
		t.Fatal("the colored screen has no colors: the check above proves nothing")
	}
}
