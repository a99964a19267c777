package daemon

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
	"github.com/kftray-go/kftray/store"
)

func TestReportOrphanRelays(t *testing.T) {
	ctx := context.Background()
	w := testWorld(t)
	me := relay.LocalOwner("now")
	for _, r := range []struct{ name, user, session string }{
		{"kftray-relay-1-old", me.User, "old"}, // an earlier daemon's: orphan
		{"kftray-relay-1-now", me.User, "now"}, // this daemon's
		{"kftray-relay-1-bob", "bob", "old"},   // another user's
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
	n := reportOrphanRelays(ctx, st, w.engine().LoadCluster, me, zerolog.New(&logs))
	if n != 1 {
		t.Fatalf("found %d orphans, want 1\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "kftray relay clean") || strings.Count(logs.String(), "earlier kftray daemon") != 1 {
		t.Fatalf("log:\n%s", logs.String())
	}
	// It only reports: nothing was deleted.
	list, _ := w.cs.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{})
	if len(list.Items) != 3 {
		t.Fatalf("%d deployments left, want 3", len(list.Items))
	}
}
