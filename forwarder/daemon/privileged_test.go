//go:build privileged

package daemon

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/internal/privtest"
)

// TestOtherUserIsRefused runs an API client as a second real user (made
// with useradd) against a root-owned daemon. With the socket's own mode the
// kernel refuses the connection; with the socket opened up (a mistaken
// chmod) the daemon still refuses by the kernel's peer uid.
func TestOtherUserIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a user and run a process as it")
	}
	bin, uid, gid := otherUser(t)

	dir := shortDir(t)
	os.Chmod(dir, 0o711) // others may traverse, not list
	_, st := runInProcess(t, dir, testWorld(t), "")

	client := func(asOther bool) string {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = []string{childEnv + "=client", childDirEnv + "=" + dir}
		if asOther {
			privtest.As(cmd, uid, gid)
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

// otherUser is the real user kftray-apitest (made with useradd) and a copy
// of this test binary that it can run.
func otherUser(t *testing.T) (bin string, uid, gid uint32) {
	t.Helper()
	uid, gid = privtest.User(t, "kftray-apitest")
	bin = filepath.Join(privtest.SharedDir(t, "kftray-daemon-test-"), "daemon.test")
	copyFile(t, os.Args[0], bin, 0o755)
	return bin, uid, gid
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
