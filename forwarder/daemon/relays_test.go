package daemon

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
	"github.com/kftray-go/kftray/store"
)

// The sweep deletes the relays whose owner is provably dead (an earlier
// daemon of this config directory, a dead `kftray run`) and leaves the rest.
func TestSweepRelays(t *testing.T) {
	ctx := context.Background()
	w := testWorld(t)
	dir := t.TempDir()
	key := relay.DirKey(dir)
	me := relay.LocalOwner(relay.DaemonSession(key))
	dead := deadPID(t)
	for _, r := range []struct{ name, user, session string }{
		{"kftray-relay-1-old", me.User, relay.DaemonSession(key)},                     // an earlier daemon of this directory: deleted
		{"kftray-relay-1-run", me.User, relay.RunSession(dead)},                       // a dead kftray run: deleted
		{"kftray-relay-1-now", me.User, me.Session},                                   // this daemon's
		{"kftray-relay-1-dir", me.User, relay.DaemonSession(relay.DirKey(dir + "2"))}, // another directory's daemon: left
		{"kftray-relay-1-live", me.User, relay.RunSession(os.Getpid())},               // a live kftray run: left
		{"kftray-relay-1-legacy", me.User, "3fa2c1d9"},                                // an older kftray: left
		{"kftray-relay-1-bob", "bob", relay.DaemonSession(key)},                       // another user's
	} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: "default",
			Labels: map[string]string{manifest.LabelManagedBy: manifest.ManagedBy, manifest.LabelName: manifest.AppName,
				manifest.LabelOwnerSession: r.session},
			Annotations: map[string]string{"kftray.dev/owner-user": r.user, "kftray.dev/owner-host": me.Host}}}
		if _, err := w.cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, cfg := range []fwdconfig.Config{
		{Alias: "dns", Namespace: "default", WorkloadType: "service", Service: "dns", Protocol: "udp", RemotePort: 53},
		{Alias: "dns2", Namespace: "default", WorkloadType: "proxy", Protocol: "udp", RemoteAddress: "10.0.0.2", RemotePort: 53},
		{Alias: "web", Namespace: "other", WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80}, // no relay: not looked at
	} {
		if err := st.AddConfig(ctx, &cfg); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	s := &relaySweeper{st: st, load: w.engine().LoadCluster, owner: me, dirKey: key, kube: newKubeEnvs(st, true, zerolog.Nop()),
		log: zerolog.New(&logs), deleteTimeout: 10 * time.Second}
	deleted, left := s.sweep(ctx)
	if deleted != 2 || left != 3 {
		t.Fatalf("deleted %d, left %d; want 2 and 3\n%s", deleted, left, logs.String())
	}
	list, _ := w.cs.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{})
	var names []string
	for _, d := range list.Items {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	want := []string{"kftray-relay-1-bob", "kftray-relay-1-dir", "kftray-relay-1-legacy", "kftray-relay-1-live", "kftray-relay-1-now"}
	if !slices.Equal(names, want) {
		t.Fatalf("left %v, want %v", names, want)
	}
	if !strings.Contains(logs.String(), "kftray relay list") {
		t.Fatalf("the relays left are not pointed at:\n%s", logs.String())
	}
}
