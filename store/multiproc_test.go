package store

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/privtest"
)

// Flags for the test binary re-executed as a child process.
var (
	childMode = flag.String("store-child", "", "internal: run as a child process (writer | readonly)")
	childDir  = flag.String("store-dir", "", "internal: config dir for the child")
	childID   = flag.Int("store-writer", 0, "internal: writer number")
	childOps  = flag.Int("store-ops", 0, "internal: iterations per writer")
	childCtr  = flag.Int64("store-counter", 0, "internal: id of the shared counter config")
)

const (
	numWriters   = 6
	opsPerWriter = 40
	counterStart = 1000
)

// TestConcurrentWriterProcesses runs writers in separate processes against
// one file: every write must land (no lost updates) and none may fail with
// "database is locked".
func TestConcurrentWriterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	ctx := testCtx(t)
	dir := t.TempDir()
	s := openTestDir(t, dir)
	defer s.Close()
	counter := svc("counter", "counter", 80)
	counter.LocalPort = counterStart
	if err := s.AddConfig(ctx, counter); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, numWriters)
	for w := range numWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStoreChild$",
				"-store-child=writer", "-store-dir="+dir, fmt.Sprint("-store-writer=", w),
				fmt.Sprint("-store-ops=", opsPerWriter), fmt.Sprint("-store-counter=", counter.ID))
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs[w] = fmt.Errorf("writer %d: %v\n%s", w, err, out)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d writer processes x %d iterations (4 writes + 1 read each) took %v",
		numWriters, opsPerWriter, time.Since(start).Round(time.Millisecond))
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}

	got, err := s.GetConfig(ctx, counter.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := counterStart + numWriters*opsPerWriter; got.LocalPort != want {
		t.Errorf("shared counter = %d, want %d: updates were lost", got.LocalPort, want)
	}
	if want := int64(1 + numWriters*opsPerWriter); got.Revision != want {
		t.Errorf("counter revision = %d, want %d", got.Revision, want)
	}
	list, err := s.ListConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + numWriters*opsPerWriter; len(list) != want {
		t.Errorf("%d configs, want %d", len(list), want)
	}
	states, err := s.GetStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != numWriters*opsPerWriter {
		t.Errorf("%d states, want %d", len(states), numWriters*opsPerWriter)
	}
	settings, err := s.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(settings) != numWriters {
		t.Errorf("%d settings, want %d", len(settings), numWriters)
	}
}

// TestStoreChild is the body of the child processes; it does nothing in a
// normal test run.
func TestStoreChild(t *testing.T) {
	switch *childMode {
	case "":
		t.Skip("runs only as a child process")
	case "writer":
		if err := runWriter(*childDir, *childID, *childOps, *childCtr); err != nil {
			t.Fatal(err)
		}
	case "readonly":
		ctx := testCtx(t)
		_, err := Open(ctx, *childDir)
		if err == nil {
			t.Fatal("Open of a read-only directory succeeded")
		}
		fmt.Println(err)
	default:
		t.Fatalf("unknown child mode %q", *childMode)
	}
}

func runWriter(dir string, id, ops int, counterID int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Each writer opens on its own, racing the others through open too.
	s, err := Open(ctx, dir)
	if err != nil {
		return err
	}
	defer s.Close()
	for i := range ops {
		c := svc(fmt.Sprintf("w%d-%d", id, i), fmt.Sprintf("svc-%d-%d", id, i), 80)
		if err := s.AddConfig(ctx, c); err != nil {
			return fmt.Errorf("add %d: %w", i, err)
		}
		if _, err := s.ModifyConfig(ctx, counterID, func(c *fwdconfig.Config) error { c.LocalPort++; return nil }); err != nil {
			return fmt.Errorf("modify %d: %w", i, err)
		}
		if err := s.PutState(ctx, &State{ConfigID: c.ID, Status: fwdconfig.StatusRunning, PID: os.Getpid(), TotalConns: int64(i)}); err != nil {
			return fmt.Errorf("put state %d: %w", i, err)
		}
		if err := s.SetSetting(ctx, fmt.Sprint("writer-", id), fmt.Sprint(i)); err != nil {
			return fmt.Errorf("set setting %d: %w", i, err)
		}
		if _, err := s.ListConfigs(ctx); err != nil {
			return fmt.Errorf("list %d: %w", i, err)
		}
	}
	return nil
}

// TestOpenReadOnlyDir: a config directory kftray cannot write gives an error
// naming the file and what to do, both when the database does not exist yet
// and when it does.
func TestOpenReadOnlyDir(t *testing.T) {
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("existing=%v", existing), func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "kftray")
			if existing {
				s := openTestDir(t, dir)
				if err := s.AddConfig(testCtx(t), svc("keep", "keep", 80)); err != nil {
					t.Fatal(err)
				}
				s.Close()
			} else if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			msg := openReadOnly(t, root, dir)
			t.Logf("error: %s", msg)
			for _, want := range []string{filepath.Join(dir, FileName), "fix the permissions", "--config-dir"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
		})
	}
}

// openReadOnly opens dir without write permission on it and returns the
// error text. Root ignores permissions, so as root the test binary is run
// again as nobody.
func openReadOnly(t *testing.T, root, dir string) string {
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		_, err := Open(testCtx(t), dir)
		if err == nil {
			t.Fatal("Open of a read-only directory succeeded")
		}
		return err.Error()
	}
	// The child needs to reach and execute a copy of this binary;
	// filepath.Dir(root) is the testing package's own temp parent.
	for _, d := range []string{filepath.Dir(root), root, dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p := filepath.Dir(filepath.Dir(root)); p != "/"; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not searchable by others; cannot run the check as an unprivileged user", p)
		}
	}
	bin := filepath.Join(root, "store.test")
	if err := copyFile(os.Args[0], bin, 0o755); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	cmd := exec.Command(bin, "-test.run=^TestStoreChild$", "-store-child=readonly", "-store-dir="+dir)
	cmd.Dir = root
	cmd.Env = []string{"HOME=" + root, "PATH=/usr/bin:/bin"}
	privtest.As(cmd, nobody, nobody)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("child as uid %d failed:\n%s", nobody, out)
	}
	return string(out)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
