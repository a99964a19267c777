//go:build privileged

package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/privtest"
	"github.com/kftray-go/kftray/localapi"
)

// createSocketEnv tells TestChildCreatesConfig which socket to call.
const createSocketEnv = "KFTRAY_DAEMON_TEST_CREATE_SOCKET"

// TestChildCreatesConfig is the other user's side of
// TestOtherUserCannotChangeConfigsOrSettings.
func TestChildCreatesConfig(t *testing.T) {
	sock := os.Getenv(createSocketEnv)
	if sock == "" {
		t.Skip("run by TestOtherUserCannotChangeConfigsOrSettings as another user")
	}
	c := localapi.NewUnixClient(sock)
	defer c.Close()
	ctx := context.Background()
	_, err := c.CreateConfig(ctx, webConfig("intruder"))
	fmt.Printf("create: %d %v\n", statusCode(err), err)
	err = c.SetSetting(ctx, fwdconfig.SettingHTTPLogsDefaultEnabled, "true")
	fmt.Printf("setting: %d %v\n", statusCode(err), err)
}

// TestOtherUserCannotChangeConfigsOrSettings: through a socket opened up
// by mistake, another real user still cannot create configs or change
// settings: the daemon checks the kernel's peer uid on every endpoint.
func TestOtherUserCannotChangeConfigsOrSettings(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a user and run a process as it")
	}
	bin, uid, gid := otherUser(t)
	dir := shortDir(t)
	os.Chmod(dir, 0o711)
	c, st := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine()})
	if err := os.Chmod(st.Socket, 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := privtest.As(exec.Command(bin, "-test.run=^TestChildCreatesConfig$", "-test.v"), uid, gid)
	cmd.Env = []string{createSocketEnv + "=" + st.Socket}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the other user's client: %v\n%s", err, out)
	}
	for _, want := range []string{"create: 403 this kftray daemon belongs to uid 0", "setting: 403 this kftray daemon belongs to uid 0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the other user's client said:\n%s\nwant %q", out, want)
		}
	}
	ctx := context.Background()
	if fs, _ := c.Forwards(ctx); len(fs) != 0 {
		t.Fatalf("the other user created %+v", fs)
	}
	if m, _ := c.Settings(ctx); m[fwdconfig.SettingHTTPLogsDefaultEnabled] != "false" {
		t.Fatalf("the other user changed a setting: %v", m)
	}
}
