package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite"
)

// TestMain makes this test binary act as the kftray binary (running the
// same main as the real one) and as a few helper programs the scripts use.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"kftray":          main,
		"replace-in-file": replaceInFile,
		"racing-editor":   racingEditor,
		"expect-exit":     expectExit,
		"make-app-db":     makeAppDB,
		"mcp-tools":       mcpTools,
	})
}

// TestScripts runs testdata/script/*.txtar against a fresh config dir each.
func TestScripts(t *testing.T) {
	examples, err := filepath.Abs("../../store/testdata/kftray-examples")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			cfg := filepath.Join(env.WorkDir, "kftray-config")
			env.Setenv("KFTRAY_CONFIG", cfg)
			env.Setenv("EDITOR", "false")
			// kftray's own example files, unchanged, in $WORK/examples.
			dst := filepath.Join(env.WorkDir, "examples")
			if err := os.Mkdir(dst, 0o755); err != nil {
				return err
			}
			files, err := filepath.Glob(filepath.Join(examples, "*.json"))
			if err != nil || len(files) == 0 {
				return fmt.Errorf("no example files in %s: %v", examples, err)
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

// replace-in-file OLD NEW FILE: an "editor" that replaces OLD with NEW.
func replaceInFile() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: replace-in-file OLD NEW FILE")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[3])
	if err == nil && !bytes.Contains(b, []byte(os.Args[1])) {
		err = fmt.Errorf("%q not found in %s", os.Args[1], os.Args[3])
	}
	if err == nil {
		err = os.WriteFile(os.Args[3], bytes.ReplaceAll(b, []byte(os.Args[1]), []byte(os.Args[2])), 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// racing-editor OLD NEW IMPORTFILE FILE: edits like replace-in-file, but
// meanwhile another process changes the same config (kftray config import).
func racingEditor() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: racing-editor OLD NEW IMPORTFILE FILE")
		os.Exit(2)
	}
	importFile := os.Args[3]
	os.Args = []string{"replace-in-file", os.Args[1], os.Args[2], os.Args[4]}
	replaceInFile()
	out, err := exec.Command("kftray", "config", "import", importFile).CombinedOutput()
	os.Stderr.Write(out)
	if err != nil {
		os.Exit(1)
	}
}

// expect-exit N PROG ARGS...: runs PROG, passing its output through, and
// succeeds only if it exits with code N.
func expectExit() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: expect-exit N PROG ARGS...")
		os.Exit(2)
	}
	want, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	got := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		got = ee.ExitCode()
	}
	if got != want {
		fmt.Fprintf(os.Stderr, "expect-exit: %s exited %d, want %d\n", strings.Join(os.Args[2:], " "), got, want)
		os.Exit(1)
	}
}

// mcp-tools: runs `kftray mcp` with the MCP SDK's client, as an editor
// would, and prints each tool as "NAME read-only|changes[ destructive]",
// sorted; kftray mcp's stderr is passed through.
func mcpTools() {
	cmd := exec.Command("kftray", "mcp")
	cmd.Stderr = os.Stderr
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "mcp-tools", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcp-tools:", err)
		os.Exit(1)
	}
	var lines []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "mcp-tools:", err)
			os.Exit(1)
		}
		line := tool.Name + " changes"
		if a := tool.Annotations; a != nil && a.ReadOnlyHint {
			line = tool.Name + " read-only"
		} else if a != nil && a.DestructiveHint != nil && *a.DestructiveHint {
			line += " destructive"
		}
		lines = append(lines, line)
	}
	if err := cs.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "mcp-tools: closing:", err)
		os.Exit(1)
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
}

// make-app-db DB JSONFILE: writes a database with the kftray desktop app's
// schema (kftray-commons create_db_table) holding the configs of JSONFILE,
// one JSON document per row as the app stores them.
func makeAppDB() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: make-app-db DB JSONFILE")
		os.Exit(2)
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var rows []json.RawMessage
	b, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		fail(err)
	}
	db, err := sql.Open("sqlite", os.Args[1])
	if err != nil {
		fail(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE configs (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
		CREATE TABLE config_state (id INTEGER PRIMARY KEY, config_id INTEGER NOT NULL,
			is_running BOOLEAN NOT NULL DEFAULT false, process_id INTEGER,
			FOREIGN KEY(config_id) REFERENCES configs(id) ON DELETE CASCADE);
		CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP);`); err != nil {
		fail(err)
	}
	for _, r := range rows {
		if _, err := db.Exec("INSERT INTO configs (data) VALUES (?)", string(r)); err != nil {
			fail(err)
		}
	}
}
