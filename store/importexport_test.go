package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
)

func exampleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/kftray-examples/*.json")
	if err != nil || len(files) < 9 {
		t.Fatalf("kftray example files: %v, %v", files, err)
	}
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rawEntries(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// kftrayDefaults are values kftray fills in itself, which export leaves out.
var kftrayDefaults = map[string]any{
	"http_logs_enabled":        false,
	"http_logs_max_file_size":  float64(fwdconfig.DefaultHTTPLogsMaxFileSize),
	"http_logs_retention_days": float64(fwdconfig.DefaultHTTPLogsRetentionDays),
	"http_logs_auto_cleanup":   true,
	"domain_enabled":           false,
	"auto_loopback_address":    false,
}

func withoutDefaults(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if d, ok := kftrayDefaults[k]; ok && d == v {
			continue
		}
		out[k] = v
	}
	return out
}

// Each kftray example imports unchanged, re-imports as a no-op, and exports
// to the same JSON minus kftray's defaults.
func TestImportKftrayExamples(t *testing.T) {
	for _, file := range exampleFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ctx := testCtx(t)
			s := openTest(t)
			data := readFile(t, file)
			want := rawEntries(t, data)

			res, err := s.ImportConfigs(ctx, data)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Added) != len(want) || len(res.Updated)+len(res.Unchanged) != 0 {
				t.Fatalf("first import: %+v, want %d added", res, len(want))
			}
			res, err = s.ImportConfigs(ctx, data)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Unchanged) != len(want) || len(res.Added)+len(res.Updated) != 0 {
				t.Errorf("re-import: %+v, want all %d unchanged", res, len(want))
			}
			list, err := s.ListConfigs(ctx)
			if err != nil || len(list) != len(want) {
				t.Fatalf("%d configs after re-import (%v), want %d", len(list), err, len(want))
			}

			out, err := s.ExportConfigs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := rawEntries(t, out)
			for i := range want {
				if w := withoutDefaults(want[i]); !reflect.DeepEqual(got[i], w) {
					t.Errorf("exported entry %d:\n got %v\nwant %v", i+1, got[i], w)
				}
			}
			if strings.Contains(string(out), `"id"`) {
				t.Error("export contains ids")
			}
		})
	}
}

// All examples in one store, exported, imported into a fresh store: the
// same configs come back.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	a := openTest(t)
	for _, file := range exampleFiles(t) {
		if _, err := a.ImportConfigs(ctx, readFile(t, file)); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	out, err := a.ExportConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := openTest(t)
	if _, err := b.ImportConfigs(ctx, out); err != nil {
		t.Fatal(err)
	}
	la, _ := a.ListConfigs(ctx)
	lb, _ := b.ListConfigs(ctx)
	if len(la) != len(lb) || len(la) != 13 { // the examples hold 13 entries
		t.Fatalf("%d configs exported, %d imported", len(la), len(lb))
	}
	for i := range la {
		if !fwdconfig.SameContent(la[i], lb[i]) {
			t.Errorf("config %d changed in the round trip:\n got %+v\nwant %+v", i+1, lb[i], la[i])
		}
	}
	// And exporting again gives the same bytes.
	out2, err := b.ExportConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(out2) {
		t.Errorf("second export differs:\n%s\n---\n%s", out, out2)
	}
}

func TestImportMerge(t *testing.T) {
	ctx := testCtx(t)
	s := openTest(t)
	if _, err := s.ImportConfigs(ctx, readFile(t, "testdata/kftray-examples/pod-tcp.json")); err != nil {
		t.Fatal(err)
	}
	orig, _ := s.LookupConfig(ctx, "app-pod")

	// Same pod selector: an update, keeping the stored alias and local port
	// when the file leaves them out; ids stay.
	res, err := s.ImportConfigs(ctx, []byte(`{"target":"app=nginx,tier=frontend","namespace":"default",
		"remote_port":8080,"context":"my-k8s-cluster","workload_type":"pod","protocol":"tcp"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Updated) != 1 || res.Updated[0] != orig.ID {
		t.Fatalf("merge: %+v, want config %d updated", res, orig.ID)
	}
	got, _ := s.GetConfig(ctx, orig.ID)
	if got.Alias != "app-pod" || got.LocalPort != 8080 || got.RemotePort != 8080 {
		t.Errorf("merged config: %+v", got)
	}

	// A different context is a different forward.
	res, err = s.ImportConfigs(ctx, []byte(`{"alias":"app-pod-2","target":"app=nginx,tier=frontend","namespace":"default",
		"remote_port":80,"context":"other","workload_type":"pod","protocol":"tcp"}`))
	if err != nil || len(res.Added) != 1 {
		t.Fatalf("different context: %+v %v", res, err)
	}

	// "current-context" and a missing context are the same context.
	if _, err := s.ImportConfigs(ctx, []byte(`{"alias":"cur","service":"s","namespace":"n","remote_port":1,"workload_type":"service","protocol":"tcp","context":"current-context"}`)); err != nil {
		t.Fatal(err)
	}
	res, err = s.ImportConfigs(ctx, []byte(`{"service":"s","namespace":"n","remote_port":1,"workload_type":"service","protocol":"tcp"}`))
	if err != nil || len(res.Unchanged) != 1 {
		t.Errorf("current-context vs none: %+v %v", res, err)
	}

	// Two entries of one file for the same forward: the later wins, one add.
	res, err = s.ImportConfigs(ctx, []byte(`[
		{"alias":"dup","service":"d","namespace":"n","remote_port":1,"workload_type":"service","protocol":"tcp"},
		{"alias":"dup","service":"d","namespace":"n","remote_port":2,"workload_type":"service","protocol":"tcp"}]`))
	if err != nil || len(res.Added) != 1 {
		t.Fatalf("duplicate entries: %+v %v", res, err)
	}
	if c, _ := s.LookupConfig(ctx, "dup"); c.RemotePort != 2 {
		t.Errorf("duplicate entries: remote port %d, want the later 2", c.RemotePort)
	}
}

// A bad file is rejected whole, listing every problem, and nothing is
// written.
func TestImportRejectsWholeFile(t *testing.T) {
	ctx := testCtx(t)
	s := openTest(t)
	if _, err := s.ImportConfigs(ctx, readFile(t, "testdata/kftray-examples/service-tcp.json")); err != nil {
		t.Fatal(err)
	}
	bad := `[
  {"alias": "good", "service": "good", "namespace": "n", "remote_port": 80, "workload_type": "service", "protocol": "tcp"},
  {"alias": "nosvc", "namespace": "n", "remote_port": 80, "workload_type": "service", "protocol": "tcp"},
  {"service": "ports", "namespace": "n", "remote_port": 70000, "local_port": -1, "workload_type": "service", "protocol": "sctp"},
  {"alias": "pod", "namespace": "", "remote_port": 1, "workload_type": "pod", "protocol": "tcp"},
  {"alias": "prox", "namespace": "n", "workload_type": "proxy", "protocol": "udp"},
  {"alias": "bad host!", "domain_enabled": "true", "service": "s", "namespace": "n", "remote_port": 1, "workload_type": "service", "protocol": "tcp"},
  {"alias": "logs", "service": "l", "namespace": "n", "remote_port": 1, "workload_type": "service", "protocol": "tcp",
   "http_logs_max_file_size": 209715200, "http_logs_retention_days": 400},
  {"alias": "typo", "servcie": "x", "localPort": 1, "namespace": "n", "workload_type": "deployment", "protocol": "tcp"},
  {"alias": "types", "service": 5, "namespace": "n", "remote_port": "http", "domain_enabled": "yes", "workload_type": "service", "protocol": "tcp"},
  {"alias": "MY-API", "service": "other", "namespace": "n", "remote_port": 1, "workload_type": "service", "protocol": "tcp"},
  "not an object"
]`
	_, err := s.ImportConfigs(ctx, []byte(bad))
	var ie *fwdconfig.ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("import of a bad file: %v, want *fwdconfig.ImportError", err)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		"entry 2 (nosvc): service: required for workload_type service",
		"entry 3 (ports): remote_port: 70000 is out of range 1..65535",
		"entry 3 (ports): local_port: -1 is out of range",
		"entry 3 (ports): protocol: \"sctp\" is not one of tcp, udp",
		"entry 8 (typo): workload_type: \"deployment\" is not one of service, pod, proxy, expose",
		"entry 4 (pod): namespace: required",
		"entry 4 (pod): target: required for workload_type pod",
		"entry 5 (prox): remote_address: required for workload_type proxy",
		"entry 5 (prox): remote_port: required",
		"entry 6 (bad host!): alias:",
		"entry 7 (logs): http_logs_max_file_size: 209715200 bytes is out of range",
		"entry 7 (logs): http_logs_retention_days: 400 is out of range 1..365",
		"entry 8 (typo): servcie: unknown field; did you mean \"service\"?",
		"entry 8 (typo): localPort: unknown field; did you mean \"local_port\"?",
		"entry 9 (types): service: must be a string, got 5",
		"entry 9 (types): remote_port: must be a port number 1..65535, got \"http\"",
		"entry 9 (types): domain_enabled: must be true or false, got \"yes\"",
		"entry 11 (unnamed): (entry): must be a JSON object",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q", want)
		}
	}
	if strings.Contains(msg, "entry 1 ") {
		t.Error("the good entry was reported")
	}
	list, _ := s.ListConfigs(ctx)
	if len(list) != 1 {
		t.Errorf("%d configs after a rejected import, want the 1 from before", len(list))
	}

	// Alias clashes are checked against the stored configs too (the
	// entries above failed earlier checks, so this one is on its own).
	_, err = s.ImportConfigs(ctx, []byte(`{"alias": "MY-API", "service": "other", "namespace": "n", "remote_port": 1, "workload_type": "service", "protocol": "tcp"}`))
	if err == nil || !strings.Contains(err.Error(), `entry 1 (MY-API): alias: "MY-API" is already used by config 1`) {
		t.Errorf("alias clash: %v", err)
	}
}
