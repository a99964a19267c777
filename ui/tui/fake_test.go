package tui

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// t0 is the fixed clock of the model tests.
var t0 = time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)

// memBackend is an in-memory daemon: it keeps forwards, answers like the
// API and records every call.
type memBackend struct {
	mu     sync.Mutex
	fwds   []localapi.Forward
	calls  []string
	events chan localapi.Event
	nextID int64
	ticks  int // the daemon's clock: each change is a millisecond after the last
}

// now is the time of a change, later than every change before it.
func (b *memBackend) now() time.Time {
	b.ticks++
	return t0.Add(time.Duration(b.ticks) * time.Millisecond)
}

func newMem(fwds ...localapi.Forward) *memBackend {
	b := &memBackend{fwds: fwds, events: make(chan localapi.Event, 64), nextID: 100}
	return b
}

func (b *memBackend) record(format string, args ...any) {
	b.calls = append(b.calls, fmt.Sprintf(format, args...))
}

func (b *memBackend) Calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

func (b *memBackend) Status(context.Context) (localapi.Status, error) {
	return localapi.Status{PID: 4242}, nil
}

func (b *memBackend) Forwards(context.Context) ([]localapi.Forward, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.fwds), nil
}

func (b *memBackend) find(ref string) *localapi.Forward {
	for i := range b.fwds {
		if strconv.FormatInt(b.fwds[i].ID, 10) == ref || strings.EqualFold(b.fwds[i].Name, ref) {
			return &b.fwds[i]
		}
	}
	return nil
}

func (b *memBackend) Start(_ context.Context, sel localapi.Selection) (localapi.Results, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("start %s", strings.Join(sel.Refs, ","))
	var res localapi.Results
	for _, r := range sel.Refs {
		f := b.find(r)
		if f == nil {
			res.Results = append(res.Results, localapi.Result{Ref: r, Error: "no config named " + r})
			continue
		}
		if f.Status != localapi.StatusRunning {
			f.Status, f.Address, f.Pod, f.Since, f.UpdatedAt = localapi.StatusRunning, fmt.Sprintf("127.0.0.1:%d", 40000+f.ID), f.Name+"-pod-1", t0, b.now()
		}
		cp := *f
		res.Results = append(res.Results, localapi.Result{Ref: r, Forward: &cp})
	}
	return res, nil
}

func (b *memBackend) Stop(_ context.Context, sel localapi.Selection) (localapi.Results, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("stop %s", strings.Join(sel.Refs, ","))
	var res localapi.Results
	for _, r := range sel.Refs {
		f := b.find(r)
		if f == nil {
			res.Results = append(res.Results, localapi.Result{Ref: r, Error: "no config named " + r})
			continue
		}
		f.Status, f.Address, f.Pod, f.LastError, f.UpdatedAt = localapi.StatusStopped, "", "", "", b.now()
		cp := *f
		res.Results = append(res.Results, localapi.Result{Ref: r, Forward: &cp})
	}
	return res, nil
}

func (b *memBackend) DeleteConfig(_ context.Context, ref string) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("delete %s", ref)
	f := b.find(ref)
	if f == nil {
		return 0, &localapi.StatusError{Code: 404, Msg: "no config " + ref}
	}
	id := f.ID
	b.fwds = slices.DeleteFunc(b.fwds, func(x localapi.Forward) bool { return x.ID == id })
	return id, nil
}

func (b *memBackend) ImportConfigs(_ context.Context, data []byte) (fwdconfig.ImportResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var res fwdconfig.ImportResult
	cfgs, err := fwdconfig.ParseConfigs(data)
	if err != nil {
		return res, &localapi.StatusError{Code: 400, Msg: err.Error()}
	}
	for _, c := range cfgs {
		b.nextID++
		c.ID = b.nextID
		b.record("import %s", c.Name())
		b.fwds = append(b.fwds, localapi.Forward{ID: c.ID, Name: c.Name(), Config: c, Status: localapi.StatusStopped})
		res.Added = append(res.Added, c.ID)
	}
	return res, nil
}

func (b *memBackend) ExportConfigs(context.Context) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var cs []fwdconfig.Config
	for _, f := range b.fwds {
		cs = append(cs, f.Config)
	}
	return fwdconfig.FormatConfigs(cs)
}

// Events sends the snapshot, then what the test pushes on b.events.
func (b *memBackend) Events(ctx context.Context, f func(localapi.Event) error) error {
	fws, _ := b.Forwards(ctx)
	for i := range fws {
		if err := f(localapi.Event{Type: "forward", Forward: &fws[i]}); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-b.events:
			if !ok {
				return nil
			}
			if err := f(ev); err != nil {
				return err
			}
		}
	}
}

// recDesktop records what would have been opened and copied.
type recDesktop struct {
	mu     sync.Mutex
	opened []string
	copied []string
}

func (d *recDesktop) OpenURL(u string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opened = append(d.opened, u)
	return nil
}

func (d *recDesktop) Copy(s string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.copied = append(d.copied, s)
	return nil
}

// clock is the tests' settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// probe wraps the model so that the test sees every state Update makes
// and can wait for one (not for output bytes, which the renderer diffs).
type probe struct {
	m   Model
	obs *observer
}

type observer struct {
	mu   sync.Mutex
	cond *sync.Cond
	m    Model
	n    int
}

func (p probe) Init() tea.Cmd { return p.m.Init() }

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	nm, cmd := p.m.Update(msg)
	p.m = nm.(Model)
	p.obs.mu.Lock()
	p.obs.m, p.obs.n = p.m.snapshot(), p.obs.n+1
	p.obs.cond.Broadcast()
	p.obs.mu.Unlock()
	return p, cmd
}

func (p probe) View() tea.View { return p.m.View() }

// snapshot copies what Update changes in place (the maps and the rows),
// so that the test reads the copy while the program goes on.
func (m Model) snapshot() Model {
	c := m
	c.entries = make(map[int64]*entry, len(m.entries))
	for id, e := range m.entries {
		cp := *e
		c.entries[id] = &cp
	}
	c.selected, c.collapsed, c.started = maps.Clone(m.selected), maps.Clone(m.collapsed), maps.Clone(m.started)
	if m.form != nil {
		f := *m.form
		f.fields, f.errs, f.optsNote = slices.Clone(f.fields), maps.Clone(f.errs), maps.Clone(f.optsNote)
		c.form = &f
	}
	if m.picker != nil {
		p := *m.picker
		c.picker = &p
	}
	return c
}

// harness runs a Model in a real bubbletea program (teatest) against a
// memBackend.
type harness struct {
	t     *testing.T
	tm    *teatest.TestModel
	obs   *observer
	b     *memBackend
	d     *recDesktop
	clock *clock
}

func start(t *testing.T, b *memBackend, w, h int, tweak ...func(*Options)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hs := &harness{t: t, b: b, d: &recDesktop{}, clock: &clock{t: t0}, obs: &observer{}}
	hs.obs.cond = sync.NewCond(&hs.obs.mu)
	opts := Options{Backend: b, Desktop: hs.d, Now: hs.clock.Now, ConfigDir: "/home/me/.kftray", StartDir: t.TempDir(), NoColor: true}
	for _, f := range tweak {
		f(&opts)
	}
	m := New(ctx, opts)
	hs.obs.m = m
	hs.tm = teatest.NewTestModel(t, probe{m: m, obs: hs.obs}, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() {
		_ = hs.tm.Quit()
		hs.tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	})
	return hs
}

// waitFor waits until the model satisfies cond (a generous bound, only so
// that a broken test fails instead of hanging).
func (hs *harness) waitFor(what string, cond func(Model) bool) Model {
	hs.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	go func() {
		time.Sleep(10 * time.Second)
		hs.obs.mu.Lock()
		hs.obs.cond.Broadcast()
		hs.obs.mu.Unlock()
	}()
	hs.obs.mu.Lock()
	defer hs.obs.mu.Unlock()
	for !cond(hs.obs.m) {
		if time.Now().After(deadline) {
			hs.t.Fatalf("gave up waiting for %s; the screen:\n%s", what, screen(hs.obs.m))
		}
		hs.obs.cond.Wait()
	}
	return hs.obs.m
}

func (hs *harness) keys(ks ...string) {
	for _, k := range ks {
		hs.tm.Send(keyMsg(k))
	}
}

func (hs *harness) typeText(s string) { hs.tm.Type(s) }

// settle sends a no-op message and waits until Update handled it, so
// every key sent before it has been handled too.
func (hs *harness) settle() Model {
	hs.t.Helper()
	hs.obs.mu.Lock()
	n := hs.obs.n
	hs.obs.mu.Unlock()
	hs.tm.Send(nopMsg{})
	return hs.waitFor("the keys to be handled", func(Model) bool { return hs.obs.n > n })
}

type nopMsg struct{}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+a", "ctrl+c", "ctrl+r", "ctrl+u":
		return tea.KeyPressMsg{Code: rune(k[5]), Mod: tea.ModCtrl}
	}
	r := []rune(k)
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// screen is the model's screen as plain text, trailing spaces trimmed.
func screen(m Model) string {
	lines := strings.Split(ansi.Strip(m.Render()), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

func requireGolden(t *testing.T, m Model) {
	t.Helper()
	golden.RequireEqual(t, screen(m))
}

// fixture is four configs in two contexts, one in each status.
func fixture() []localapi.Forward {
	svc := func(id int64, alias, ctx, ns, service string, port int) fwdconfig.Config {
		return fwdconfig.Config{ID: id, Alias: alias, Context: ctx, Namespace: ns, WorkloadType: fwdconfig.WorkloadService,
			Protocol: fwdconfig.ProtocolTCP, Service: service, RemotePort: port}
	}
	web := svc(1, "web", "dev", "default", "web", 80)
	web.LocalPort = 8080
	db := fwdconfig.Config{ID: 2, Alias: "db", Context: "dev", Namespace: "data", WorkloadType: fwdconfig.WorkloadPod,
		Protocol: fwdconfig.ProtocolTCP, Target: "app=postgres", RemotePort: 5432, LocalPort: 5432}
	dns := fwdconfig.Config{ID: 3, Alias: "dns", Context: "prod", Namespace: "kube-system", WorkloadType: fwdconfig.WorkloadProxy,
		Protocol: fwdconfig.ProtocolUDP, RemoteAddress: "10.0.0.10", RemotePort: 53, LocalPort: 5353}
	api := svc(4, "api.dev.test", "dev", "default", "api", 443)
	api.LocalPort, api.DomainEnabled = 443, true
	return []localapi.Forward{
		{ID: 1, Name: "web", Config: web, Status: localapi.StatusRunning, Desired: true, PID: 4242, Address: "127.0.0.1:8080",
			Pod: "web-7d9c8b5f4-x2x9k", Transport: "websocket", Since: t0.Add(-5 * time.Minute), UpdatedAt: t0,
			ActiveConns: 2, TotalConns: 17, BytesToPod: 1024, BytesFromPod: 1 << 20, Reconnects: 1},
		{ID: 2, Name: "db", Config: db, Status: localapi.StatusRetrying, Desired: true, PID: 4242, Address: "127.0.0.1:5432",
			Attempt: 3, NextTry: t0.Add(9 * time.Second), LastError: "dial tcp 10.1.2.3:5432: connect: connection refused", UpdatedAt: t0},
		{ID: 3, Name: "dns", Config: dns, Status: localapi.StatusFailed, LastError: "the relay pod did not become ready within 60s", UpdatedAt: t0},
		{ID: 4, Name: "api.dev.test", Config: api, Status: localapi.StatusStopped, UpdatedAt: t0},
	}
}

// loaded waits for the fixture's rows.
func (hs *harness) loaded(n int) Model {
	return hs.waitFor(fmt.Sprintf("%d rows", n), func(m Model) bool { return len(m.entries) == n && m.conn == connLive })
}

// traffic feeds web counter events one second apart, for the sparkline.
func (hs *harness) traffic(id int64, steps ...int64) {
	f := fixture()[id-1]
	total := f.BytesFromPod
	for i, s := range steps {
		hs.clock.Set(t0.Add(time.Duration(i+1) * time.Second))
		total += s
		f.BytesFromPod = total
		f.UpdatedAt = hs.clock.Now()
		cp := f
		hs.b.events <- localapi.Event{Type: "forward", Forward: &cp}
		hs.waitFor("the counter event", func(m Model) bool {
			e := m.entries[id]
			return e != nil && e.f.BytesFromPod == total
		})
	}
}
