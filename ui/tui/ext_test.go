package tui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// extBackend is a memBackend with the newer daemon API: configs, restart,
// cluster listings, helper, settings and the log.
type extBackend struct {
	*memBackend
	updateErr  error
	createErr  error
	forbidSvcs bool
	settings   map[string]string
	logMu      sync.Mutex
	logLevels  []string // the level of each log stream opened
	log        []LogLine
}

func newExt(fwds ...localapi.Forward) *extBackend {
	return &extBackend{memBackend: newMem(fwds...), settings: map[string]string{"http_logs_default_enabled": "false"}}
}

func (b *extBackend) Config(_ context.Context, ref string) (fwdconfig.Config, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.find(ref)
	if f == nil {
		return fwdconfig.Config{}, &localapi.StatusError{Code: 404, Msg: "no config " + ref}
	}
	c := f.Config
	c.Revision = 7
	return c, nil
}

func (b *extBackend) CreateConfig(_ context.Context, c fwdconfig.Config) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("create %s port %d", c.Name(), c.LocalPort)
	if b.createErr != nil {
		return 0, b.createErr
	}
	b.nextID++
	c.ID = b.nextID
	b.fwds = append(b.fwds, localapi.Forward{ID: c.ID, Name: c.Name(), Config: c, Status: localapi.StatusStopped})
	return c.ID, nil
}

func (b *extBackend) UpdateConfig(_ context.Context, ref string, c fwdconfig.Config) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("update %s rev %d port %d", ref, c.Revision, c.LocalPort)
	if b.updateErr != nil {
		return b.updateErr
	}
	f := b.find(ref)
	f.Config, f.Name, f.UpdatedAt = c, c.Name(), b.now()
	return nil
}

func (b *extBackend) ValidateConfig(context.Context, fwdconfig.Config) error { return nil }

func (b *extBackend) Restart(_ context.Context, sel localapi.Selection) (localapi.Results, error) {
	b.mu.Lock()
	b.record("restart %s", strings.Join(sel.Refs, ","))
	b.mu.Unlock()
	return localapi.Results{}, nil
}

func (b *extBackend) ClusterContexts(context.Context, string) ([]string, string, error) {
	return []string{"dev", "prod"}, "dev", nil
}

func (b *extBackend) ClusterNamespaces(context.Context, string, string) ([]string, error) {
	return []string{"default", "data", "kube-system"}, nil
}

func (b *extBackend) ClusterServices(_ context.Context, _, _, ns string) ([]ServiceInfo, error) {
	if b.forbidSvcs {
		return nil, &localapi.StatusError{Code: 403, Msg: `services is forbidden: User "me" cannot list resource "services" in namespace "data"`}
	}
	return []ServiceInfo{{Name: "redis", Ports: []PortInfo{{Name: "redis", Port: 6379, Protocol: "TCP"}}},
		{Name: "web", Ports: []PortInfo{{Name: "http", Port: 80, Protocol: "TCP"}, {Name: "metrics", Port: 9090, Protocol: "TCP"}}}}, nil
}

func (b *extBackend) ClusterPods(context.Context, string, string, string) ([]PodInfo, error) {
	return []PodInfo{{Name: "pg-0", Ready: true, Labels: map[string]string{"app": "postgres"}, Ports: []PortInfo{{Port: 5432}}}}, nil
}

func (b *extBackend) HelperStatus(context.Context) (HelperInfo, error) {
	return HelperInfo{Installed: true, Version: "v0.1.0", Want: "v0.2.0", Allowed: true, Service: "active",
		NeededBy: []string{"api.dev.test"}, InstallCommand: "sudo kftray helper install"}, nil
}

func (b *extBackend) Settings(context.Context) (map[string]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]string{}
	for k, v := range b.settings {
		out[k] = v
	}
	return out, nil
}

func (b *extBackend) SetSetting(_ context.Context, key, value string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("set %s=%s", key, value)
	b.settings[key] = value
	return nil
}

func (b *extBackend) FollowDaemonLogLines(ctx context.Context, level string, tail int, f func(LogLine) error) error {
	b.logMu.Lock()
	b.logLevels = append(b.logLevels, level)
	b.logMu.Unlock()
	rank := func(l string) int { return slices.Index([]string{"", "trace", "debug", "info", "warn", "error"}, l) }
	for _, l := range b.log {
		if l.Level == "" || rank(l.Level) >= rank(level) { // lines that are not JSON always show
			if err := f(l); err != nil {
				return err
			}
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestEditThroughConfigAPI(t *testing.T) {
	b := newExt(fixture()...)
	hs := start(t, b.memBackend, 80, 24, func(o *Options) { o.Backend = b })
	hs.loaded(4)
	hs.keys("G", "e")
	m := hs.waitFor("the edit form", func(m Model) bool { return m.mode == modeForm })
	if m.form.id != 1 || m.form.fields[0].input.Value() != "web" || m.form.base.Revision != 7 {
		t.Fatalf("form for id %d, name %q, revision %d", m.form.id, m.form.fields[0].input.Value(), m.form.base.Revision)
	}
	for i := range m.form.fieldIndex("local_port") {
		if m.form.visible(i) {
			hs.keys("tab")
		}
	}
	hs.keys("ctrl+u")
	hs.typeText("9090")
	hs.keys("enter")
	m = hs.waitFor("saved", func(m Model) bool { return m.mode == modeList && strings.HasPrefix(m.flash, "saved") })
	if got := b.Calls(); !slices.Equal(got, []string{"update 1 rev 7 port 9090"}) {
		t.Fatalf("calls %v", got)
	}

	// Someone else saved meanwhile: the form says so and keeps the edit.
	b.updateErr = &localapi.StatusError{Code: 409, Msg: "config was changed by someone else"}
	hs.keys("e")
	hs.waitFor("the edit form", func(m Model) bool { return m.mode == modeForm })
	hs.keys("enter")
	m = hs.waitFor("the conflict", func(m Model) bool { return m.form != nil && m.form.general != "" })
	if !strings.Contains(m.form.general, "web was changed elsewhere since you opened it") {
		t.Fatalf("general %q", m.form.general)
	}
}

func TestDaemonFieldErrorsLandUnderFields(t *testing.T) {
	b := newExt(fixture()...)
	b.createErr = &FieldsError{Msg: "invalid", Problems: []fwdconfig.FieldError{{Field: "alias", Msg: `"web" is the name of config 1 already`}}}
	hs := start(t, b.memBackend, 80, 24, func(o *Options) { o.Backend = b })
	hs.loaded(4)
	hs.keys("G", "D")
	m := hs.waitFor("the duplicate form", func(m Model) bool { return m.mode == modeForm })
	if got := m.form.fields[0].input.Value(); got != "web-copy" {
		t.Fatalf("duplicate named %q", got)
	}
	if got := m.form.fields[m.form.fieldIndex("local_port")].input.Value(); got != "" {
		t.Fatalf("duplicate keeps local port %q", got)
	}
	hs.keys("enter")
	m = hs.waitFor("the daemon's refusal", func(m Model) bool { return m.form != nil && m.form.errs["alias"] != "" })
	if got := b.Calls(); !slices.Equal(got, []string{"create web-copy port 0"}) {
		t.Fatalf("calls %v", got)
	}
	b.createErr = nil
	hs.keys("enter")
	hs.waitFor("the copy", func(m Model) bool { return len(m.entries) == 5 })
}

func TestRestartUsesTheAPI(t *testing.T) {
	b := newExt(fixture()...)
	hs := start(t, b.memBackend, 80, 24, func(o *Options) { o.Backend = b })
	hs.loaded(4)
	hs.keys("G", "r")
	hs.waitFor("restarted", func(m Model) bool { return strings.HasPrefix(m.flash, "restarted") })
	if got := b.Calls(); !slices.Equal(got, []string{"restart 1"}) {
		t.Fatalf("calls %v", got)
	}
}

func TestGoldenFormPickers(t *testing.T) {
	b := newExt(fixture()...)
	hs := start(t, b.memBackend, 80, 24, func(o *Options) { o.Backend = b })
	hs.loaded(4)
	hs.keys("a")
	hs.typeText("cache")
	hs.keys("tab", "tab", "tab", "tab") // workload, protocol, kubeconfig, context
	hs.waitFor("the contexts", func(m Model) bool {
		return strings.Contains(m.form.optsNote["context"], "in the cluster: dev, prod (current: dev)")
	})
	hs.keys("tab")
	hs.waitFor("the namespaces", func(m Model) bool { return strings.Contains(m.form.optsNote["namespace"], "kube-system") })
	hs.keys("ctrl+u")
	hs.typeText("da")
	hs.keys("tab") // completes "data"
	hs.keys("tab") // service: listed for data
	m := hs.waitFor("the services", func(m Model) bool { return strings.Contains(m.form.optsNote["service"], "redis, web") })
	if got := m.form.fields[m.form.fieldIndex("namespace")].input.Value(); got != "data" {
		t.Fatalf("tab completed the namespace to %q", got)
	}
	hs.typeText("w")
	hs.keys("tab", "tab") // completes web, then remote port: web's ports
	m = hs.waitFor("the ports", func(m Model) bool {
		return strings.Contains(m.form.optsNote["remote_port"], "80 (http), 9090 (metrics)")
	})
	requireGolden(t, m)
}

func TestFormPickerForbidden(t *testing.T) {
	b := newExt(fixture()...)
	b.forbidSvcs = true
	hs := start(t, b.memBackend, 80, 24, func(o *Options) { o.Backend = b })
	hs.loaded(4)
	hs.keys("a")
	for range 6 {
		hs.keys("tab")
	}
	m := hs.waitFor("the refusal", func(m Model) bool { return m.form.optsNote["service"] != "" })
	if got := m.form.optsNote["service"]; got != "listing Services is forbidden (RBAC): type the name" {
		t.Fatalf("note %q", got)
	}
	hs.typeText("redis")
	if m := hs.settle(); m.form.fields[m.form.fieldIndex("service")].input.Value() != "redis" {
		t.Fatal("typing does not work after a forbidden listing")
	}
}

func TestGoldenHelper(t *testing.T) {
	b := newExt(fixture()...)
	hs := start(t, b.memBackend, 80, 24, func(o *Options) { o.Backend = b })
	hs.loaded(4)
	hs.keys("H")
	m := hs.waitFor("the helper's status", func(m Model) bool { return m.helper != nil })
	requireGolden(t, m)
	hs.keys("c")
	hs.waitFor("the copy", func(m Model) bool { return strings.HasPrefix(m.flash, "copied sudo kftray helper install") })
}

func TestHelperOnAnOldDaemon(t *testing.T) {
	hs := start(t, newMem(fixture()...), 80, 24)
	hs.loaded(4)
	hs.keys("H")
	m := hs.waitFor("the refusal", func(m Model) bool { return m.flashErr })
	if m.mode != modeList || !strings.Contains(m.flash, "does not offer the helper's status") {
		t.Fatalf("mode %d, flash %q", m.mode, m.flash)
	}
}

func TestSettings(t *testing.T) {
	b := newExt(fixture()...)
	hs := start(t, b.memBackend, 80, 24, func(o *Options) { o.Backend = b; o.SettingHelp = func(string) string { return "log HTTP by default" } })
	hs.loaded(4)
	hs.keys(",")
	hs.waitFor("the settings", func(m Model) bool { return m.settings != nil })
	hs.keys("enter")
	m := hs.waitFor("the new value", func(m Model) bool { return m.settings["http_logs_default_enabled"] == "true" })
	if got := b.Calls(); !slices.Equal(got, []string{"set http_logs_default_enabled=true"}) {
		t.Fatalf("calls %v", got)
	}
	if !strings.Contains(screen(m), "http_logs_default_enabled        true") || !strings.Contains(screen(m), "log HTTP by default") {
		t.Fatalf("screen:\n%s", screen(m))
	}
}

func TestGoldenDaemonLog(t *testing.T) {
	b := newExt(fixture()...)
	at := func(s int) time.Time { return time.Date(2026, 11, 25, 15, 59, s, 0, time.Local) }
	b.log = []LogLine{
		{Time: at(1), Level: "debug", Message: "forward state", Fields: map[string]any{"config": 1, "status": "running"}},
		{Time: at(2), Level: "info", Message: "daemon started", Fields: map[string]any{"pid": 4242}},
		{Time: at(3), Level: "warn", Message: "writing forward state", Fields: map[string]any{"error": "database is locked"}},
		{Time: at(4), Level: "error", Message: "helper session ended", Fields: map[string]any{"error": "EOF"}},
		{Message: "panic: runtime error (not JSON)"},
	}
	hs := start(t, b.memBackend, 80, 24, func(o *Options) { o.Backend = b })
	hs.loaded(4)
	hs.keys("L")
	hs.waitFor("info and up", func(m Model) bool { return m.log != nil && len(m.log.lines) == 4 })
	hs.keys("l") // info -> warn
	m := hs.waitFor("warn and up", func(m Model) bool { return m.log.level == "warn" && len(m.log.lines) == 3 })
	requireGolden(t, m)
	b.logMu.Lock()
	levels := slices.Clone(b.logLevels)
	b.logMu.Unlock()
	if !slices.Equal(levels, []string{"info", "warn"}) {
		t.Fatalf("log streams opened at levels %v, want info then warn", levels)
	}
	hs.keys("esc")
	if m := hs.settle(); m.mode != modeList || m.log != nil {
		t.Fatal("esc did not close the log")
	}
}
