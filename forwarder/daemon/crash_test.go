package daemon

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/proc"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// zombiePID returns the pid of a child that has exited and is not reaped
// yet: what a daemon killed with SIGKILL is until its parent waits for it.
func zombiePID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	pid := cmd.Process.Pid
	waitFor(t, "the child to exit", func() (bool, string) { return !proc.Alive(pid), "" })
	return pid
}

// livePID returns the pid of an unrelated process that runs until the test
// ends: a dead daemon's pid, reused.
func livePID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// After a crash, the first start through the next daemon succeeds: the
// dead daemon's rows are settled before the API answers, whether its pid
// is a zombie not reaped yet or already another process's, and no message
// blames the dead process.
func TestFirstStartAfterACrash(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  func(t *testing.T) int
	}{
		{"zombie", zombiePID},
		{"pid reused", livePID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := shortDir(t)
			cfg := addWeb(t, dir)
			ctx := context.Background()
			dead := tc.pid(t)
			// What the killed daemon left: its pid file and a row saying it
			// runs web. (Not web as desired: the new daemon's restore would
			// overwrite the row, and hide the bug, when it is quick.)
			if err := os.WriteFile(localapi.PathsIn(dir).PID, []byte(strconv.Itoa(dead)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, dir)
			if err := s.PutState(ctx, &store.State{ConfigID: cfg.ID, Status: fwdconfig.StatusRunning, PID: dead, LocalAddr: "127.0.0.1:1", Pod: "web-1"}); err != nil {
				t.Fatal(err)
			}
			c, _ := runInProcess(t, dir, testWorld(t), "")
			res, err := c.Start(ctx, localapi.Selection{All: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed() != 0 {
				t.Fatalf("the first start after the crash failed: %+v", res.Results)
			}
			for _, r := range res.Results {
				if strings.Contains(r.Error, strconv.Itoa(dead)) {
					t.Fatalf("the error blames the dead process %d: %s", dead, r.Error)
				}
			}
			f := waitForward(t, c, "web", "web running here", func(f localapi.Forward) bool {
				return f.Status == localapi.StatusRunning && f.PID == os.Getpid()
			})
			echo(t, f.Address, "after the crash")
		})
	}
}

// A `kftray run` that was killed and is a zombie owns nothing either.
func TestZombieOwnerIsNotBlamed(t *testing.T) {
	dir := shortDir(t)
	cfg := addWeb(t, dir)
	ctx := context.Background()
	s := openStore(t, dir)
	dead := zombiePID(t)
	if err := s.PutState(ctx, &store.State{ConfigID: cfg.ID, Status: fwdconfig.StatusRunning, PID: dead}); err != nil {
		t.Fatal(err)
	}
	core := NewCore(CoreOptions{Store: s, Remember: true})
	if err := core.CheckNotRunElsewhere(ctx, cfg); err != nil {
		t.Fatalf("a zombie's row blocks the start: %v", err)
	}
	fs, err := StoredForwards(ctx, s)
	if err != nil || len(fs) != 1 || fs[0].Status != localapi.StatusStopped {
		t.Fatalf("stored view: %+v %v; want stopped (its owner is gone)", fs, err)
	}
}
