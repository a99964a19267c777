package cluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kftray-go/kftray/internal/envknob"
)

// ErrNoBinary means the devcluster binary has not been built.
var ErrNoBinary = errors.New("devcluster binary not built")

// Binary finds the devcluster binary: $KFTRAY_DEVCLUSTER_BIN, else
// scripts/devcluster/bin/devcluster in the enclosing repository.
func Binary() (string, error) {
	if b := envknob.Get(envknob.DevclusterBin); b != "" {
		if _, err := os.Stat(b); err != nil {
			return b, fmt.Errorf("%w: %s=%s: %v", ErrNoBinary, envknob.DevclusterBin, b, err)
		}
		return b, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "devcluster", "go.mod")); err == nil {
			bin := filepath.Join(dir, "scripts", "devcluster", "bin", "devcluster")
			if _, err := os.Stat(bin); err != nil {
				return bin, fmt.Errorf("%w: %s is missing; run scripts/devcluster/build (about 11 minutes the first time)", ErrNoBinary, bin)
			}
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no scripts/devcluster above the working directory; set %s", ErrNoBinary, envknob.DevclusterBin)
		}
		dir = parent
	}
}

// shared is the one cluster of a test binary, set up by Main.
var shared struct {
	c   *Cluster
	err error // why there is no cluster
}

// Main runs a test package's tests against one shared cluster:
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }
//
// and tests call Get(t). Without a built binary, tests that call Get skip
// with one line, except in CI (CI=true) where that is a failure. The
// cluster is stopped when the tests end, or on SIGINT/SIGTERM; on Linux its
// processes also die with the test binary if it is killed.
func Main(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse() // for testing.Verbose and the test's own flags
	}
	bin, err := Binary()
	if err != nil {
		if envknob.Get(envknob.CI) == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: dev cluster: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "dev cluster tests skipped: %v\n", err)
		shared.err = err
		return m.Run()
	}
	start := time.Now()
	c, err := Start(context.Background(), Options{Binary: bin})
	if err != nil {
		// Once more, on fresh ports: another process may have taken one of
		// the free ports picked before its component bound it.
		fmt.Fprintf(os.Stderr, "dev cluster did not start, retrying once: %v\n", err)
		c, err = Start(context.Background(), Options{Binary: bin})
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: dev cluster did not start: %v\n", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "dev cluster up in %v (%s)\n", time.Since(start).Round(time.Millisecond), c.Dir)
	}
	shared.c = c

	// Ctrl-C and go test's own timeout signal: stop the cluster first.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s, ok := <-sig
		if !ok {
			return
		}
		c.Stop()
		fmt.Fprintf(os.Stderr, "dev cluster stopped on %v\n", s)
		os.Exit(1)
	}()
	defer func() {
		signal.Stop(sig)
		close(sig)
		c.Stop()
	}()
	return m.Run()
}

// Get returns the cluster Main started, or skips (fails in CI) the test.
func Get(t testing.TB) *Cluster {
	t.Helper()
	if shared.c != nil {
		return shared.c
	}
	err := shared.err
	if err == nil {
		err = errors.New("no cluster: call cluster.Main from the package's TestMain")
	}
	if envknob.Get(envknob.CI) == "true" {
		t.Fatalf("dev cluster: %v", err)
	}
	t.Skipf("dev cluster: %v", err)
	return nil
}
