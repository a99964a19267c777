package localapi

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// What a client of the daemon may link besides the standard library: the
// API and the config model. Interfaces (TUI, web UI, MCP) import this
// package, so a dependency added here is added to all of them; SQLite,
// client-go and gRPC belong to the daemon and the helper.
var (
	allowed   = []string{"github.com/kftray-go/kftray/localapi", "github.com/kftray-go/kftray/fwdconfig"}
	forbidden = []string{"modernc.org/", "sqlite", "k8s.io/", "sigs.k8s.io/", "google.golang.org/grpc", "google.golang.org/protobuf"}
)

func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	// leanclient is a program like a TUI: it must build, and link no
	// more than the package does.
	client := "./testdata/leanclient"
	if out, err := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "leanclient"), client).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", client, err, out)
	}
	for _, pkg := range []string{".", client} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, d := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.Contains(d, f) {
					t.Errorf("%s links %s (forbidden: %s)", pkg, d, f)
				}
			}
			ok := strings.HasSuffix(d, "/localapi/testdata/leanclient")
			for _, a := range allowed {
				ok = ok || d == a
			}
			if !ok {
				t.Errorf("%s links %s, which is not on the client's dependency list", pkg, d)
			}
		}
	}
}
