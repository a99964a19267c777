//go:build e2e

package relay_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/cli"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
	"github.com/kftray-go/kftray/store"
)

// `kftray relay list|clean` on the dev cluster: a relay a live daemon
// forwards through is in use, one left by a killed daemon is an orphan and
// gets deleted, another user's is left alone.
func TestRelayCLI(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	me := relay.LocalOwner("")
	deploy := func(o relay.Owner, id int64) *relay.Relay {
		d := &relay.Deployer{Client: c.Client, Owner: o, Image: "ghcr.io/kftray-go/kftray-server:e2e", Log: zerolog.Nop()}
		r, err := d.Deploy(ctx, relay.Spec{ConfigID: id, Namespace: ns, Mode: "udp", RemoteAddress: "x", RemotePort: 53})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The store a daemon writes: three UDP configs, and the runtime state of
	// the live daemon (this process stands in for it): config a forwards to
	// a pod of its relay.
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, name := range []string{"a", "b", "c"} {
		cfg := fwdconfig.Config{Alias: name, Namespace: ns, WorkloadType: "proxy", Protocol: "udp", RemoteAddress: "10.0.0.10", RemotePort: 53}
		if err := st.AddConfig(ctx, &cfg); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cfg.ID)
	}
	live := deploy(relay.Owner{User: me.User, Host: me.Host, Session: "live"}, ids[0])
	left := deploy(relay.Owner{User: me.User, Host: me.Host, Session: "killed"}, ids[1])
	theirs := deploy(relay.Owner{User: "someone-else", Host: "elsewhere", Session: "x"}, ids[2])
	err = st.PutState(ctx, &store.State{ConfigID: ids[0], Status: fwdconfig.StatusRunning, PID: os.Getpid(), Pod: live.Name + "-5d7cb76886-rhjpd"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"--config-dir", dir, "relay"}, append(args, "--kubeconfig", c.Kubeconfig, "--context", c.Context, "-n", ns)...)
		if code := cli.Main(args, &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}); code != 0 {
			t.Fatalf("kftray %v: exit %d\n%s%s", args, code, out.String(), errOut.String())
		}
		return out.String()
	}
	list := run("list")
	t.Logf("kftray relay list:\n%s", list)
	for name, status := range map[string]string{live.Name: "in use", left.Name: "orphan", theirs.Name: "other owner"} {
		found := false
		for _, line := range strings.Split(list, "\n") {
			if strings.Contains(line, name) {
				found = true
				if !strings.HasSuffix(strings.TrimSpace(line), status) {
					t.Errorf("%s: %q, want status %q", name, line, status)
				}
			}
		}
		if !found {
			t.Errorf("%s not listed", name)
		}
	}

	clean := run("clean")
	if !strings.Contains(clean, "deleted relay "+ns+"/"+left.Name) || strings.Count(clean, "deleted relay") != 1 {
		t.Fatalf("kftray relay clean:\n%s", clean)
	}
	for _, r := range []*relay.Relay{live, theirs} {
		if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, r.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("clean deleted %s: %v", r.Name, err)
		}
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, left.Name, metav1.GetOptions{}); err == nil {
		t.Error("orphan still there after clean")
	}
}
