package store

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
)

// kftrayAppSchema is the schema the kftray desktop app (Rust) creates
// (kftray-commons utils/db.rs create_db_table).
const kftrayAppSchema = `
CREATE TABLE IF NOT EXISTS configs (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS config_state (
	id INTEGER PRIMARY KEY, config_id INTEGER NOT NULL, is_running BOOLEAN NOT NULL DEFAULT false,
	process_id INTEGER, FOREIGN KEY(config_id) REFERENCES configs(id) ON DELETE CASCADE);
CREATE TRIGGER IF NOT EXISTS after_insert_config AFTER INSERT ON configs FOR EACH ROW
	BEGIN INSERT INTO config_state (config_id, is_running) VALUES (NEW.id, false); END;
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP);
`

// Rows as the app stores them: its prepare_config fills alias, kubeconfig
// "default" and the HTTP log defaults; unset options may be null.
var kftrayAppRows = []string{
	`{"service":"argocd-server","namespace":"argocd","local_port":16080,"remote_port":8080,"context":"kind-kftray-cluster","workload_type":"service","protocol":"tcp","auto_loopback_address":false,"alias":"argocd","domain_enabled":false,"kubeconfig":"default","http_logs_enabled":false,"http_logs_max_file_size":10485760,"http_logs_retention_days":7,"http_logs_auto_cleanup":true}`,
	`{"namespace":"default","local_port":8080,"remote_port":80,"context":"current-context","workload_type":"pod","protocol":"tcp","remote_address":null,"auto_loopback_address":true,"alias":"app-pod","domain_enabled":"true","kubeconfig":"default","target":"app=nginx","http_logs_enabled":true,"http_logs_max_file_size":1048576,"http_logs_retention_days":3,"http_logs_auto_cleanup":false}`,
}

func makeKftrayAppDB(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, FileName)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(kftrayAppSchema); err != nil {
		t.Fatal(err)
	}
	for _, r := range kftrayAppRows {
		if _, err := db.Exec("INSERT INTO configs (data) VALUES (?)", r); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestOpenRefusesKftrayAppDB(t *testing.T) {
	dir := t.TempDir()
	path := makeKftrayAppDB(t, dir)
	before, _ := os.ReadFile(path)
	_, err := Open(testCtx(t), dir)
	var app *KftrayAppDBError
	if !errors.As(err, &app) {
		t.Fatalf("Open of the app's database: %v, want KftrayAppDBError", err)
	}
	for _, want := range []string{path, "desktop app", "--config-dir", "kftray config import " + path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("Open modified the app's database")
	}
}

func TestImportFromKftrayAppDB(t *testing.T) {
	ctx := testCtx(t)
	path := makeKftrayAppDB(t, t.TempDir())
	data, err := ReadKftrayAppDB(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s := openTest(t)
	res, err := s.ImportConfigs(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Added) != 2 {
		t.Fatalf("import: %+v", res)
	}
	pod, err := s.LookupConfig(ctx, "app-pod")
	if err != nil {
		t.Fatal(err)
	}
	want := fwdconfig.Config{Alias: "app-pod", Namespace: "default", WorkloadType: "pod", Protocol: "tcp", Target: "app=nginx",
		RemotePort: 80, LocalPort: 8080, AutoLoopbackAddress: true, DomainEnabled: true, HTTPLogsEnabled: true,
		HTTPLogsMaxFileSize: 1 << 20, HTTPLogsRetentionDays: 3}
	if !fwdconfig.SameContent(pod, want) {
		t.Errorf("imported\n got %+v\nwant %+v", pod, want)
	}

	// Not the app's schema: a clear error.
	if _, err := ReadKftrayAppDB(ctx, s.Path()); err == nil || !strings.Contains(err.Error(), "not a kftray desktop app database") {
		t.Errorf("ReadKftrayAppDB of our own store: %v", err)
	}
}
