package main

import (
	"os/exec"
	"strings"
	"testing"
)

// kftui is a client of the daemon's local API: it links the API client,
// the config model and the terminal libraries, never SQLite, client-go or
// gRPC (the daemon's), so it stays small and starts at once.
var (
	forbidden = []string{"modernc.org/", "sqlite", "k8s.io/", "sigs.k8s.io/", "google.golang.org/grpc", "google.golang.org/protobuf",
		"github.com/kftray-go/kftray/store", "github.com/kftray-go/kftray/forwarder", "github.com/kftray-go/kftray/internal/cli"}
	// What it may link from this module.
	ownAllowed = []string{"github.com/kftray-go/kftray/cmd/kftui", "github.com/kftray-go/kftray/ui/tui",
		"github.com/kftray-go/kftray/localapi", "github.com/kftray-go/kftray/fwdconfig",
		"github.com/kftray-go/kftray/internal/envknob", "github.com/kftray-go/kftray/internal/paths",
		"github.com/kftray-go/kftray/internal/buildinfo"}
)

func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 5 {
		t.Fatalf("go list -deps found only %v", deps)
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.Contains(d, f) {
				t.Errorf("kftui links %s (forbidden: %s)", d, f)
			}
		}
		if strings.HasPrefix(d, "github.com/kftray-go/kftray/") {
			ok := false
			for _, a := range ownAllowed {
				ok = ok || d == a
			}
			if !ok {
				t.Errorf("kftui links %s, which is not on its list of kftray packages", d)
			}
		}
	}
}
