package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kftray-go/kftray/fwdconfig"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(testCtx(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func schemaVersion(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func svc(alias, service string, remote int) *fwdconfig.Config {
	return &fwdconfig.Config{Alias: alias, Namespace: "default", WorkloadType: "service", Protocol: "tcp", Service: service, RemotePort: remote}
}

func TestOpenFresh(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "nested", "kftray")
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := schemaVersion(t, s); got != SchemaVersion {
		t.Errorf("schema version %d, want %d", got, SchemaVersion)
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := s.db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
	if s.Path() != filepath.Join(dir, FileName) {
		t.Errorf("Path() = %q", s.Path())
	}
	// Reopening an up-to-date file changes nothing.
	s2, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func TestMigrateFromV1Fixture(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	fixture, err := os.ReadFile("testdata/schema-v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(fixture)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := schemaVersion(t, s); got != SchemaVersion {
		t.Fatalf("schema version %d after migration, want %d", got, SchemaVersion)
	}
	web, err := s.LookupConfig(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	want := fwdconfig.Config{ID: 1, Alias: "web", Context: "dev", Namespace: "default", WorkloadType: "service", Protocol: "tcp",
		Service: "web", RemotePort: 80, LocalPort: 8080, HTTPLogsEnabled: true, HTTPLogsMaxFileSize: 20 << 20,
		HTTPLogsRetentionDays: 14, HTTPLogsAutoCleanup: false, Revision: 1}
	if !fwdconfig.SameContent(web, want) || web.ID != 1 {
		t.Errorf("migrated web config:\n got %+v\nwant %+v", web, want)
	}
	pod, err := s.LookupConfig(ctx, "API-POD")
	if err != nil {
		t.Fatal(err)
	}
	if !pod.DomainEnabled || pod.IngressAnnotations["a"] != "b" || pod.HTTPLogsMaxFileSize != fwdconfig.DefaultHTTPLogsMaxFileSize || !pod.HTTPLogsAutoCleanup {
		t.Errorf("migrated pod config: %+v", pod)
	}
	if v, ok, err := s.GetSetting(ctx, "theme"); v != "dark" || !ok || err != nil {
		t.Errorf("setting theme = %q %v %v", v, ok, err)
	}
	// The new tables work on the migrated file.
	if err := s.PutState(ctx, &State{ConfigID: 1, Status: fwdconfig.StatusRunning, PID: 7}); err != nil {
		t.Fatal(err)
	}
	// A new config gets a fresh id, never a reused one.
	c := svc("new", "new", 1)
	if err := s.AddConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.ID != 3 {
		t.Errorf("new config id %d, want 3", c.ID)
	}
}

// A file built by the v1 code path migrates like the fixture does.
func TestMigrateStepwise(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	s1, err := openAt(ctx, dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := schemaVersion(t, s1); got != 1 {
		t.Fatalf("version %d, want 1", got)
	}
	if _, err := s1.db.Exec(`INSERT INTO configs (alias, namespace, workload_type, service, remote_port, http_logs_retention_days)
		VALUES ('x', 'ns', 'service', 'x', 1, 30)`); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.LookupConfig(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPLogsRetentionDays != 30 {
		t.Errorf("retention %d after migration, want 30", c.HTTPLogsRetentionDays)
	}
}

func TestOpenRefusesForeignFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	junk := []byte("this is my shopping list, not a database\n" + strings.Repeat("x", 5000))
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(testCtx(t), dir)
	if err == nil {
		t.Fatal("Open accepted a text file")
	}
	for _, want := range []string{path, "not a kftray database", "move it aside", "--config-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	got, _ := os.ReadFile(path)
	if string(got) != string(junk) {
		t.Error("Open modified the foreign file")
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Error("Open left a -wal file beside the foreign file")
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	s := openTestDir(t, dir)
	if err := s.AddConfig(ctx, svc("keep", "keep", 80)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, dir)
	var nse *NewerSchemaError
	if !errors.As(err, &nse) || nse.Have != 99 {
		t.Fatalf("Open of a newer schema: %v, want NewerSchemaError", err)
	}
	for _, want := range []string{filepath.Join(dir, FileName), "version 99", "Upgrade kftray"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// The data is still there for the newer kftray.
	db, _ := sql.Open("sqlite", filepath.Join(dir, FileName))
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM configs").Scan(&n); err != nil || n != 1 {
		t.Errorf("configs after refused open: %d, %v", n, err)
	}
}

func openTestDir(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(testCtx(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigCRUD(t *testing.T) {
	ctx := testCtx(t)
	s := openTest(t)

	web := svc("web", "web", 80)
	web.Context = "current-context"
	web.Kubeconfig = " default "
	web.IngressAnnotations = map[string]string{"k": "v"}
	if err := s.AddConfig(ctx, web); err != nil {
		t.Fatal(err)
	}
	if web.ID == 0 || web.Revision != 1 {
		t.Fatalf("AddConfig set id %d revision %d", web.ID, web.Revision)
	}
	got, err := s.GetConfig(ctx, web.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Context != "" || got.Kubeconfig != "" || got.HTTPLogsMaxFileSize != fwdconfig.DefaultHTTPLogsMaxFileSize || got.IngressAnnotations["k"] != "v" {
		t.Errorf("stored config not normalized: %+v", got)
	}

	// Duplicate alias, case-insensitively.
	err = s.AddConfig(ctx, svc("WEB", "other", 81))
	var ve *fwdconfig.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "already used by config") {
		t.Errorf("duplicate alias: %v", err)
	}
	// Invalid configs are rejected with every problem.
	err = s.AddConfig(ctx, &fwdconfig.Config{WorkloadType: "service", Protocol: "sctp", RemotePort: 70000})
	if !errors.As(err, &ve) || len(ve.Problems) < 4 {
		t.Errorf("invalid config: %v", err)
	}

	for _, ref := range []string{"web", "Web", "1"} {
		if c, err := s.LookupConfig(ctx, ref); err != nil || c.ID != web.ID {
			t.Errorf("LookupConfig(%q) = %d, %v", ref, c.ID, err)
		}
	}
	if _, err := s.LookupConfig(ctx, "nope"); !errors.Is(err, fwdconfig.ErrNotFound) {
		t.Errorf("LookupConfig(nope) = %v, want fwdconfig.ErrNotFound", err)
	}
	if _, err := s.LookupConfig(ctx, "42"); !errors.Is(err, fwdconfig.ErrNotFound) {
		t.Errorf("LookupConfig(42) = %v, want fwdconfig.ErrNotFound", err)
	}

	// Update with the right revision works; a stale one conflicts.
	stale := got
	got.RemotePort = 8080
	if err := s.UpdateConfig(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.Revision != 2 {
		t.Errorf("revision after update %d, want 2", got.Revision)
	}
	stale.RemotePort = 9999
	if err := s.UpdateConfig(ctx, &stale); !errors.Is(err, fwdconfig.ErrConflict) {
		t.Errorf("stale update: %v, want fwdconfig.ErrConflict", err)
	}
	if c, _ := s.GetConfig(ctx, web.ID); c.RemotePort != 8080 {
		t.Errorf("remote port %d after stale update, want 8080", c.RemotePort)
	}

	mod, err := s.ModifyConfig(ctx, web.ID, func(c *fwdconfig.Config) error { c.LocalPort = 18080; return nil })
	if err != nil || mod.LocalPort != 18080 || mod.Revision != 3 {
		t.Errorf("ModifyConfig = %+v, %v", mod, err)
	}
	if _, err := s.ModifyConfig(ctx, web.ID, func(c *fwdconfig.Config) error { c.Namespace = ""; return nil }); err == nil {
		t.Error("ModifyConfig accepted an invalid result")
	}

	api := svc("api", "api", 9000)
	if err := s.AddConfig(ctx, api); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListConfigs(ctx)
	if err != nil || len(list) != 2 || list[0].Alias != "web" || list[1].Alias != "api" {
		t.Fatalf("ListConfigs = %+v, %v", list, err)
	}

	if err := s.PutState(ctx, &State{ConfigID: web.ID, Status: fwdconfig.StatusRunning, PID: 1}); err != nil {
		t.Fatal(err)
	}
	// Deleting with one unknown id deletes nothing.
	if err := s.DeleteConfigs(ctx, web.ID, 999); !errors.Is(err, fwdconfig.ErrNotFound) {
		t.Errorf("DeleteConfigs with unknown id: %v", err)
	}
	if list, _ := s.ListConfigs(ctx); len(list) != 2 {
		t.Errorf("%d configs after failed delete, want 2", len(list))
	}
	if err := s.DeleteConfigs(ctx, web.ID, web.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetState(ctx, web.ID); !errors.Is(err, fwdconfig.ErrNotFound) {
		t.Errorf("state survived its config: %v", err)
	}
	// Ids are not reused.
	again := svc("web", "web", 80)
	if err := s.AddConfig(ctx, again); err != nil {
		t.Fatal(err)
	}
	if again.ID <= api.ID {
		t.Errorf("new id %d reuses an old one", again.ID)
	}
}

func TestStates(t *testing.T) {
	ctx := testCtx(t)
	s := openTest(t)
	a, b := svc("a", "a", 1), svc("b", "b", 2)
	for _, c := range []*fwdconfig.Config{a, b} {
		if err := s.AddConfig(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	next := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	sa := State{ConfigID: a.ID, Status: fwdconfig.StatusRetrying, PID: 100, Attempt: 3, LastError: "pod gone",
		NextRetry: next, LocalAddr: "127.0.0.1:8080", Pod: "web-1", ActiveConns: 2, TotalConns: 10,
		BytesIn: 1 << 40, BytesOut: 5, Reconnects: 4}
	if err := s.PutState(ctx, &sa); err != nil {
		t.Fatal(err)
	}
	if sa.UpdatedAt.IsZero() {
		t.Error("PutState did not set UpdatedAt")
	}
	if err := s.PutState(ctx, &State{ConfigID: b.ID, Status: fwdconfig.StatusRunning, PID: 200}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetState(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.NextRetry.Equal(next) || got != (State{ConfigID: a.ID, Status: fwdconfig.StatusRetrying, PID: 100, Attempt: 3,
		LastError: "pod gone", NextRetry: got.NextRetry, LocalAddr: "127.0.0.1:8080", Pod: "web-1", ActiveConns: 2,
		TotalConns: 10, BytesIn: 1 << 40, BytesOut: 5, Reconnects: 4, UpdatedAt: got.UpdatedAt}) {
		t.Errorf("GetState = %+v", got)
	}
	// Replacing keeps one row per config.
	sa.Status, sa.Attempt = fwdconfig.StatusRunning, 0
	if err := s.PutState(ctx, &sa); err != nil {
		t.Fatal(err)
	}
	all, err := s.GetStates(ctx)
	if err != nil || len(all) != 2 || all[0].Status != fwdconfig.StatusRunning {
		t.Fatalf("GetStates = %+v, %v", all, err)
	}
	if err := s.PutState(ctx, &State{ConfigID: 999, Status: fwdconfig.StatusRunning}); !errors.Is(err, fwdconfig.ErrNotFound) {
		t.Errorf("state for unknown config: %v", err)
	}
	if err := s.PutState(ctx, &State{ConfigID: a.ID, Status: "dancing"}); err == nil {
		t.Error("bad status accepted")
	}
	n, err := s.ClearStates(ctx, 100)
	if err != nil || n != 1 {
		t.Errorf("ClearStates(100) = %d, %v", n, err)
	}
	if all, _ := s.GetStates(ctx); len(all) != 1 || all[0].PID != 200 {
		t.Errorf("after ClearStates: %+v", all)
	}
	if err := s.DeleteState(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.GetStates(ctx); len(all) != 0 {
		t.Errorf("after DeleteState: %+v", all)
	}
}

func TestSettings(t *testing.T) {
	ctx := testCtx(t)
	s := openTest(t)
	if _, ok, err := s.GetSetting(ctx, "k"); ok || err != nil {
		t.Errorf("unset key: %v %v", ok, err)
	}
	for _, v := range []string{"1", "2"} {
		if err := s.SetSetting(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, err := s.GetSetting(ctx, "k"); v != "2" || !ok || err != nil {
		t.Errorf("GetSetting = %q %v %v", v, ok, err)
	}
	if m, err := s.Settings(ctx); err != nil || len(m) != 1 {
		t.Errorf("Settings = %v %v", m, err)
	}
	if err := s.DeleteSetting(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.GetSetting(ctx, "k"); ok {
		t.Error("deleted setting still set")
	}
}

// Directory names that need escaping in a SQLite URI still work.
func TestOpenOddPaths(t *testing.T) {
	for _, name := range []string{"a b", "x#y", "q?r=1", "p%20c", "ü"} {
		dir := filepath.Join(t.TempDir(), name)
		s, err := Open(testCtx(t), dir)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
			t.Errorf("%q: database not at the expected path: %v", name, err)
		}
	}
}
