package config

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/store"
)

// On a terminal, an invalid edit asks to edit again; the second, valid
// edit is saved. The editor is a real program (a shell script) and the
// store a real file.
func TestEditReprompts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(dir, "cfg"))
	if err != nil {
		t.Fatal(err)
	}
	web := &fwdconfig.Config{Alias: "web", Namespace: "dev", WorkloadType: "service", Service: "web", RemotePort: 80}
	if err := s.AddConfig(ctx, web); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// First run: break the namespace. Second run: fix it and change the port.
	editor := filepath.Join(dir, "editor.sh")
	script := `#!/bin/sh
set -e
n=$(cat "` + dir + `/count" 2>/dev/null || echo 0)
echo $((n+1)) > "` + dir + `/count"
if [ "$n" = 0 ]; then
	sed -i 's/"dev"/"Not_Valid"/' "$1"
else
	sed -i 's/"Not_Valid"/"dev"/; s/"remote_port": 80/"remote_port": 8080/' "$1"
fi
`
	if err := os.WriteFile(editor, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	io := &cmdutil.IOStreams{In: strings.NewReader("y\n"), Out: &out, ErrOut: &errOut}
	io.SetStdinTTY(true)
	f := &cmdutil.Factory{IO: io, ConfigDirFlag: filepath.Join(dir, "cfg")}
	defer f.Close()
	cmd := NewCmdEdit(f, nil)
	cmd.SetContext(ctx)
	opts := &EditOptions{Factory: f, Ref: "web", Editor: editor}
	if err := runEdit(cmd, opts); err != nil {
		t.Fatalf("edit: %v\nstderr: %s", err, errOut.String())
	}
	for _, want := range []string{`namespace: "Not_Valid" is not a valid namespace name`, "Edit again? [Y/n]"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr does not contain %q:\n%s", want, errOut.String())
		}
	}
	if !strings.Contains(out.String(), "updated config 1 (web)") {
		t.Errorf("stdout: %q", out.String())
	}
	st, _ := f.Store(ctx)
	got, err := st.LookupConfig(ctx, "web")
	if err != nil || got.RemotePort != 8080 || got.Namespace != "dev" {
		t.Errorf("saved config %+v, %v", got, err)
	}
}

// Answering no keeps the copy and saves nothing.
func TestEditDeclineKeepsCopy(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	f := &cmdutil.Factory{ConfigDirFlag: filepath.Join(dir, "cfg")}
	var errOut bytes.Buffer
	f.IO = &cmdutil.IOStreams{In: strings.NewReader("n\n"), Out: &bytes.Buffer{}, ErrOut: &errOut}
	f.IO.SetStdinTTY(true)
	defer f.Close()
	s, err := f.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddConfig(ctx, &fwdconfig.Config{Alias: "web", Namespace: "dev", WorkloadType: "service", Service: "web", RemotePort: 80}); err != nil {
		t.Fatal(err)
	}
	cmd := &cobra.Command{}
	cmd.SetContext(ctx)
	err = runEdit(cmd, &EditOptions{Factory: f, Ref: "web", Editor: `sed -i 's/"dev"/"Not_Valid"/'`})
	if err != cmdutil.ErrSilent {
		t.Fatalf("edit: %v, want ErrSilent", err)
	}
	i := strings.Index(errOut.String(), "your edited copy is in ")
	if i < 0 {
		t.Fatalf("no kept copy mentioned:\n%s", errOut.String())
	}
	path := strings.TrimSpace(errOut.String()[i+len("your edited copy is in "):])
	defer os.Remove(path)
	if b, err := os.ReadFile(path); err != nil || !strings.Contains(string(b), "Not_Valid") {
		t.Errorf("kept copy %s: %q, %v", path, b, err)
	}
	if got, _ := s.LookupConfig(ctx, "web"); got.Namespace != "dev" {
		t.Errorf("namespace %q saved", got.Namespace)
	}
}
