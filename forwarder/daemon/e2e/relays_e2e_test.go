//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/localapi"
)

// TestOrphanRelayOfKilledDaemonIsDeleted: the daemon running a UDP forward
// (through a relay Deployment) is killed with SIGKILL; the next daemon
// restores the forward with a relay of its own and deletes the dead one's,
// but leaves the relay of another config directory's daemon (which may
// well be alive), which `kftray relay list` shows.
func TestOrphanRelayOfKilledDaemonIsDeleted(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.UDPEcho(t, ns)
	k, dir := kftraytest.New(t, "kfe")
	k.Run("config", "add", "--name", "dns", "-n", ns, "--service", "dns", "--remote-port", "53", "--protocol", "udp",
		"--kubeconfig", c.Kubeconfig, "--context", c.Context)

	// Another config directory's daemon of this user on this host.
	me := relay.LocalOwner("")
	other := relay.Owner{User: me.User, Host: me.Host, Session: relay.DaemonSession(relay.DirKey(dir + "-other"))}
	od := &relay.Deployer{Client: c.Client, Owner: other, Image: "ghcr.io/kftray-go/kftray-server:e2e", Log: zerolog.Nop()}
	otherRelay, err := od.Deploy(ctx, relay.Spec{ConfigID: 99, Namespace: ns, Mode: "udp", RemoteAddress: "x", RemotePort: 53})
	if err != nil {
		t.Fatal(err)
	}

	k.Run("start", "dns")
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	relaysOf := func() (mine []relay.Info, all []relay.Info) {
		list, err := relay.List(ctx, c.Client, c.RESTConfig.Host, ns)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			if r.ConfigID != "99" {
				mine = append(mine, r)
			}
		}
		return mine, list
	}
	var first relay.Info
	kftraytest.Poll(t, "the first daemon to deploy its relay", func() (bool, string) {
		mine, _ := relaysOf()
		if len(mine) == 1 {
			first = mine[0]
			return true, ""
		}
		return false, fmt.Sprintf("relays of this directory: %+v", mine)
	})

	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	k.Run("start", "--all")
	var took time.Duration
	kftraytest.Poll(t, "the killed daemon's relay to be replaced by one of the new daemon", func() (bool, string) {
		mine, _ := relaysOf()
		if len(mine) == 1 && mine[0].OwnerSession != first.OwnerSession {
			took = time.Since(killed)
			return true, ""
		}
		return false, fmt.Sprintf("relays of this directory: %+v (the killed daemon's was %s)", mine, first.Name)
	})
	t.Logf("kill -9 of the daemon -> its relay %s deleted and one new relay left after %v", first.Name, took.Round(time.Millisecond))
	_, all := relaysOf()
	found := false
	for _, r := range all {
		found = found || r.Name == otherRelay.Name
	}
	if !found {
		t.Fatalf("the other config directory's relay %s was deleted", otherRelay.Name)
	}
	list := k.Run("relay", "list", "-n", ns, "--kubeconfig", c.Kubeconfig, "--context", c.Context)
	t.Logf("kftray relay list:\n%s", list)
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, otherRelay.Name) && !strings.HasSuffix(strings.TrimSpace(line), string(relay.OtherSession)) {
			t.Errorf("%q: want status %q", line, relay.OtherSession)
		}
		if strings.Contains(line, "kftray-relay-") && !strings.Contains(line, otherRelay.Name) && !strings.HasSuffix(strings.TrimSpace(line), string(relay.InUse)) {
			t.Errorf("%q: want the new daemon's relay in use", line)
		}
	}
}
