package proc

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("this process is not alive")
	}
	for _, pid := range []int{0, -1} {
		if Alive(pid) {
			t.Errorf("pid %d alive", pid)
		}
	}
	// A child that exited and was not reaped is a zombie: kill(pid, 0)
	// succeeds on it, but it runs nothing.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d (exited, not reaped) still counts as alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !zombie(pid) {
		t.Errorf("pid %d: not seen as a zombie before it is reaped", pid)
	}
	cmd.Wait()
	if Alive(pid) {
		t.Errorf("pid %d alive after it was reaped", pid)
	}
}
