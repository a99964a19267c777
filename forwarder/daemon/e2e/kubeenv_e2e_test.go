//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/localapi"
)

// runEnv runs kftray with extra environment variables and returns its
// output and error, whatever the exit status.
func runEnv(k *kftraytest.CLI, extra []string, args ...string) (string, string, error) {
	cmd := k.Command(args...)
	cmd.Env = append(append([]string{}, k.Env...), extra...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// TestDaemonUsesTheClientsKubeconfig: the daemon is started by a shell
// whose KUBECONFIG does not exist; a later `kftray start` from a shell with
// a good one runs its config (which names no kubeconfig) with the client's
// kubeconfig, says which, and the next daemon, started from the bad shell
// again, restores it with the same one.
func TestDaemonUsesTheClientsKubeconfig(t *testing.T) {
	c, ns, pods := deployWeb(t, cluster.App{Name: "web"})
	ctx := context.Background()
	k, dir := kftraytest.New(t, "kfe")
	for _, name := range []string{"a", "b"} {
		k.Run("config", "add", "--name", name, "-n", ns, "--service", "web", "--remote-port", "80")
	}
	bad := []string{"KUBECONFIG=/nonexistent"}
	good := []string{"KUBECONFIG=" + c.Kubeconfig}

	out, errOut, err := runEnv(k, bad, "start", "a")
	if err == nil || !strings.Contains(out+errOut, "/nonexistent") {
		t.Fatalf("KUBECONFIG=/nonexistent kftray start a: %v\n%s%s; want a failure naming /nonexistent", err, out, errOut)
	}
	out, errOut, err = runEnv(k, good, "start", "b", "--wait", "60s")
	if err != nil {
		t.Fatalf("kftray start b from a shell with a good kubeconfig, after the daemon was started with KUBECONFIG=/nonexistent: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "-> pod "+pods[0]) {
		t.Fatalf("kftray start b said %q", out)
	}
	out, errOut, err = runEnv(k, good, "start", "--json", "a")
	if err != nil {
		t.Fatalf("kftray start a again from the good shell: %v\n%s%s", err, out, errOut)
	}
	var results localapi.Results
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("start --json: %v\n%s", err, out)
	}
	res := results.Results
	if len(res) != 1 || res[0].Forward == nil || res[0].Forward.Kube == nil || res[0].Forward.Kube.Kubeconfig != c.Kubeconfig || res[0].Forward.Kube.Context != c.Context {
		t.Fatalf("the start response does not say which kubeconfig a uses: %s", out)
	}
	byName := func() map[string]localapi.Forward {
		m := map[string]localapi.Forward{}
		for _, f := range k.Status() {
			m[f.Name] = f
		}
		return m
	}
	for _, name := range []string{"a", "b"} {
		f := byName()[name]
		if f.Kube == nil || f.Kube.Kubeconfig != c.Kubeconfig || f.Kube.Context != c.Context {
			t.Fatalf("status of %s: kube %+v, want %s context %s", name, f.Kube, c.Kubeconfig, c.Context)
		}
	}

	// The next daemon, started from the bad shell, restores both with the
	// kubeconfig their client meant.
	k.Run("daemon", "stop")
	if out, errOut, err := runEnv(k, bad, "daemon", "start"); err != nil {
		t.Fatalf("daemon start: %v\n%s%s", err, out, errOut)
	}
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()
	for _, name := range []string{"a", "b"} {
		var f localapi.Forward
		kftraytest.Poll(t, name+" restored", func() (bool, string) {
			var err error
			f, err = client.Forward(ctx, name)
			return err == nil && f.Status == localapi.StatusRunning, fmt.Sprintf("%+v %v", f, err)
		})
		if got := kftraytest.Get(t, f.Address); got != pods[0] {
			t.Fatalf("%s restored, answered by %q", name, got)
		}
	}
}
