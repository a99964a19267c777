package mcpserver_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The MCP server is an interface: the local API, the config model, the
// SDK and the logger. SQLite, client-go and gRPC belong to the daemon and
// the helper (the test links the daemon; the package must not).
var (
	allowedDeps = []string{
		"github.com/kftray-go/kftray/ui/mcpserver", "github.com/kftray-go/kftray/localapi", "github.com/kftray-go/kftray/fwdconfig",
		// The SDK and what it links.
		"github.com/modelcontextprotocol/go-sdk/", "github.com/google/jsonschema-go/", "github.com/segmentio/",
		"github.com/yosida95/uritemplate/", "golang.org/x/oauth2", "golang.org/x/sync/", "golang.org/x/time/", "golang.org/x/sys/",
		// zerolog and what it links.
		"github.com/rs/zerolog", "github.com/mattn/go-isatty", "github.com/mattn/go-colorable",
	}
	forbiddenDeps = []string{"modernc.org/", "sqlite", "k8s.io/", "sigs.k8s.io/", "google.golang.org/grpc", "google.golang.org/protobuf"}
)

func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		for _, f := range forbiddenDeps {
			if strings.Contains(d, f) {
				t.Errorf("ui/mcpserver links %s (forbidden: %s)", d, f)
			}
		}
		ok := false
		for _, a := range allowedDeps {
			ok = ok || d == a || strings.HasPrefix(d, a)
		}
		if !ok {
			t.Errorf("ui/mcpserver links %s, which is not on its dependency list", d)
		}
	}
}
