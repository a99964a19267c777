//go:build e2e

package devcluster_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
)

var childMode = flag.Bool("devcluster.child", false, "run as the child of TestNoStrayProcessAfterKill")

// TestChildHoldsCluster is the child half of TestNoStrayProcessAfterKill:
// it reports its cluster's processes and waits to be killed.
func TestChildHoldsCluster(t *testing.T) {
	if !*childMode {
		t.Skip("only runs as TestNoStrayProcessAfterKill's child")
	}
	c := cluster.Get(t)
	b, _ := json.Marshal(map[string]any{"pids": c.PIDs(), "dir": c.Dir})
	fmt.Printf("CLUSTER %s\n", b)
	time.Sleep(time.Hour)
}

// TestNoStrayProcessAfterKill starts a test binary holding its own cluster,
// kills it with SIGKILL (no cleanup can run) and checks that every cluster
// process dies with it.
func TestNoStrayProcessAfterKill(t *testing.T) {
	cluster.Get(t) // skip or fail the same way as the other tests
	if *childMode {
		t.Skip("child")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestChildHoldsCluster$", "-test.timeout=5m", "-devcluster.child")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	}()

	var info struct {
		PIDs map[string]int `json:"pids"`
		Dir  string         `json:"dir"`
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "CLUSTER "); ok {
			if err := json.Unmarshal([]byte(rest), &info); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if len(info.PIDs) != 6 {
		t.Fatalf("child reported processes %v; want 6 components", info.PIDs)
	}
	defer os.RemoveAll(info.Dir) // the killed child could not remove it
	for name, pid := range info.PIDs {
		if !alive(pid) {
			t.Fatalf("%s (pid %d) not running before the kill", name, pid)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	_ = cmd.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for name, pid := range info.PIDs {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("%s (pid %d) still running after its test binary was killed", name, pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
