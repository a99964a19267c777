package cluster

import (
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var asChild = flag.Bool("cluster.child", false, "run TestMain through Main, for TestMainWithoutBinary")

func TestMain(m *testing.M) {
	flag.Parse()
	if *asChild {
		os.Exit(Main(m))
	}
	os.Exit(m.Run())
}

// TestChildGet is run by TestMainWithoutBinary in a child whose Main found
// no binary.
func TestChildGet(t *testing.T) {
	if !*asChild {
		t.Skip("child of TestMainWithoutBinary")
	}
	Get(t)
	t.Error("Get returned without a cluster")
}

// TestMainWithoutBinary: without the binary, tests skip with one line
// locally, and the package fails in CI.
func TestMainWithoutBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ci       string
		wantExit int
		wantOut  string
	}{
		{"", 0, "dev cluster tests skipped: devcluster binary not built"},
		{"true", 1, "FAIL: dev cluster: devcluster binary not built"},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			cmd := exec.Command(exe, "-cluster.child", "-test.run=^TestChildGet$", "-test.v")
			cmd.Env = []string{"CI=" + tt.ci, "KFTRAY_DEVCLUSTER_BIN=/nonexistent/devcluster", "HOME=" + t.TempDir()}
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantExit || !strings.Contains(string(out), tt.wantOut) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tt.wantExit, tt.wantOut)
			}
			if tt.wantExit == 0 && !strings.Contains(string(out), "--- SKIP: TestChildGet") {
				t.Errorf("TestChildGet did not skip:\n%s", out)
			}
		})
	}
}
