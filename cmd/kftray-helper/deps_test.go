package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The root helper's attack surface is its code: it links x/sys,
// go-plugin/gRPC, txeh and zerolog, and never client-go or SQLite. Any new
// dependency fails this test on purpose; add it here only after review.
var allowedPrefixes = []string{
	"github.com/kftray-go/kftray/cmd/kftray-helper",
	"github.com/kftray-go/kftray/helper/",
	"github.com/kftray-go/kftray/ipc",
	"github.com/kftray-go/kftray/internal/envknob",
	"github.com/kftray-go/kftray/internal/atomicfile",
	"github.com/kftray-go/kftray/internal/buildinfo",
	"github.com/kftray-go/kftray/internal/atomicfile",
	"github.com/hashicorp/go-plugin",
	"github.com/hashicorp/go-hclog",
	"github.com/hashicorp/yamux",
	"github.com/oklog/run",
	"github.com/fatih/color",
	"github.com/mattn/go-colorable",
	"github.com/mattn/go-isatty",
	"github.com/golang/protobuf/",
	"google.golang.org/grpc",
	"google.golang.org/protobuf/",
	"google.golang.org/genproto/googleapis/rpc/",
	"golang.org/x/sys/",
	"golang.org/x/net/",
	"golang.org/x/text/",
	"golang.org/x/crypto/",
	"github.com/txn2/txeh",
	"github.com/rs/zerolog",
}

var forbidden = []string{"k8s.io/", "sigs.k8s.io/", "modernc.org/", "sqlite", "github.com/kftray-go/kftray/store", "github.com/kftray-go/kftray/forwarder"}

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestHelperDependencyList(t *testing.T) {
	for _, d := range deps(t, ".") {
		for _, f := range forbidden {
			if strings.Contains(d, f) {
				t.Errorf("kftray-helper links %s (forbidden: %s)", d, f)
			}
		}
		ok := false
		for _, p := range allowedPrefixes {
			if strings.HasPrefix(d, p) {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("kftray-helper links %s, which is not on its reviewed dependency list", d)
		}
	}
}

// The forwarder's client must not pull root-side code in.
func TestClientLinksNoRootCode(t *testing.T) {
	for _, d := range deps(t, "github.com/kftray-go/kftray/ipc/helperclient") {
		if strings.HasPrefix(d, "github.com/kftray-go/kftray/helper/") {
			t.Errorf("ipc/helperclient links root-side package %s", d)
		}
	}
}
