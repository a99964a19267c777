package localapi

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// A daemon that exits at start is reported with the tail of its log, and
// it ran detached: in a process group of its own, out of the terminal's
// foreground group, so that neither the terminal's hangup nor Ctrl-C reach
// it (cmd/kftray's TestDaemonStartDetachesFromTerminal runs the real
// daemon in a terminal).
func TestEnsureStartsDetachedAndReportsEarlyExit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	dir := t.TempDir()
	script := `echo "pid $$ pgrp $(cut -d' ' -f5 /proc/$$/stat)"; echo "no such flag: --bogus" >&2; exit 3`
	_, started, err := Ensure(t.Context(), EnsureOptions{Dir: dir, Command: []string{"sh", "-c", script}})
	if err == nil || started {
		t.Fatalf("Ensure = %v, %v; want an error", started, err)
	}
	msg := err.Error()
	for _, want := range []string{"exited at start", "exit status 3", PathsIn(dir).Log, "no such flag: --bogus"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	m := regexp.MustCompile(`pid (\d+) pgrp (\d+)`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("the daemon's output is not in the error: %q", msg)
	}
	if m[1] != m[2] {
		t.Errorf("the daemon (pid %s) ran in process group %s, not its own", m[1], m[2])
	}
	if fi, err := os.Stat(PathsIn(dir).Log); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("daemon log: %v, %v; want mode 0600", fi, err)
	}
}

func TestDaemonCommand(t *testing.T) {
	bin := t.TempDir()
	kftray := filepath.Join(bin, "kftray")
	if err := os.WriteFile(kftray, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, given, path string
		verbosity         int
		want              []string
		wantErr           string
	}{
		{name: "given", given: "/opt/kftray", verbosity: 2, want: []string{"/opt/kftray", "daemon", "--detached", "--config-dir", "/c", "-vv"}},
		{name: "on PATH", path: bin, want: []string{kftray, "daemon", "--detached", "--config-dir", "/c"}},
		{name: "nowhere", path: t.TempDir(), wantErr: "cannot find the kftray program"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.path)
			got, err := DaemonCommand(tt.given, "/c", tt.verbosity)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DaemonCommand = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("DaemonCommand = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
