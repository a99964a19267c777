//go:build privileged

package daemon

import (
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestOtherUserIsRefused runs an API client as a second real user (made
// with useradd) against a root-owned daemon. With the socket's own mode the
// kernel refuses the connection; with the socket opened up (a mistaken
// chmod) the daemon still refuses by the kernel's peer uid.
func TestOtherUserIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a user and run a process as it")
	}
	const name = "kftray-apitest"
	uid, gid := ensureUser(t, name)

	dir := shortDir(t)
	os.Chmod(dir, 0o711) // others may traverse, not list
	_, st := runInProcess(t, dir, testWorld(t), "")

	// The test binary, where the other user can run it.
	bin := filepath.Join(shortDir(t), "daemon.test")
	os.Chmod(filepath.Dir(bin), 0o755)
	copyFile(t, os.Args[0], bin, 0o755)

	client := func(asOther bool) string {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = []string{childEnv + "=client", childDirEnv + "=" + dir}
		if asOther {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client (other user: %v): %v\n%s", asOther, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	if got := client(false); got != "200" {
		t.Fatalf("the daemon's own user got %q, want 200", got)
	}
	if got := client(true); !strings.Contains(got, "permission denied") {
		t.Fatalf("uid %d through the 0600 socket got %q; want the kernel to refuse (permission denied)", uid, got)
	}
	if err := os.Chmod(st.Socket, 0o666); err != nil {
		t.Fatal(err)
	}
	want := "403 this kftray daemon belongs to uid 0; uid " + strconv.Itoa(int(uid)) + " may not use it"
	if got := client(true); !strings.HasPrefix(got, want) {
		t.Fatalf("uid %d through an opened-up socket got %q; want %q", uid, got, want)
	}
}

func ensureUser(t *testing.T, name string) (uint32, uint32) {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		out, err := exec.Command("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", name).Run() })
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uint32(uid), uint32(gid)
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
