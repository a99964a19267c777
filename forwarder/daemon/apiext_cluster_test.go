package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
	"github.com/kftray-go/kftray/store"
)

// writeKubeconfig writes a kubeconfig with contexts "dev" (current,
// namespace team) and "dead" (an API server nothing listens on).
func writeKubeconfig(t *testing.T, deadPort int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	data := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
- name: dead-cluster
  cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}
users:
- name: me
  user: {token: "x"}
contexts:
- name: dev
  context: {cluster: dev-cluster, user: me, namespace: team}
- name: dead
  context: {cluster: dead-cluster, user: me}
`, deadPort)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClusterPickersThroughTheAPI: contexts from the kubeconfig;
// namespaces, Services with ports and pods with readiness from the
// cluster; a listing RBAC forbids is a 403 that says to type the value;
// an unreachable cluster is a 502; a long list is cut and says so.
func TestClusterPickersThroughTheAPI(t *testing.T) {
	w := testWorld(t)
	for _, ns := range []string{"default", "team"} {
		if _, err := w.cs.CoreV1().Namespaces().Create(context.Background(),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The API server denies pods in namespace "secret", as RBAC would.
	w.cs.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() != "secret" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "",
			fmt.Errorf(`User "dev" cannot list resource "pods" in API group "" in the namespace "secret"`))
	})
	kc := writeKubeconfig(t, freePort(t))
	eng := w.engine()
	fake := eng.LoadCluster
	eng.LoadCluster = func(src kube.Source) (*kube.Cluster, error) {
		if src.Context != "dev" {
			return kube.Load(src) // the real loader: an unknown context, a port nothing listens on
		}
		return fake(src)
	}
	c, _ := runDaemon(t, Options{Dir: shortDir(t), Engine: eng})
	ctx := context.Background()

	ctxs, err := c.Contexts(ctx, kc)
	if err != nil || len(ctxs) != 2 || ctxs[0] != (localapi.KubeContext{Name: "dead", Cluster: "dead-cluster"}) ||
		ctxs[1] != (localapi.KubeContext{Name: "dev", Cluster: "dev-cluster", Namespace: "team", Current: true}) {
		t.Fatalf("contexts: %+v %v", ctxs, err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := c.Contexts(ctx, missing); statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), missing) {
		t.Fatalf("contexts of a missing kubeconfig: %v; want 400 naming it", err)
	}

	ref := localapi.ClusterRef{Kubeconfig: kc, Context: "dev"}
	nss, cut, err := c.Namespaces(ctx, ref)
	if err != nil || cut || len(nss) != 2 || nss[1] != (localapi.Namespace{Name: "team", Phase: "Active"}) {
		t.Fatalf("namespaces: %+v %v %v", nss, cut, err)
	}
	svcs, cut, err := c.Services(ctx, ref, "default")
	want := localapi.ServicePort{Name: "web", Port: 80, TargetPort: "8080", Protocol: "TCP"}
	if err != nil || cut || len(svcs) != 1 || svcs[0].Name != "web" || svcs[0].Type != "ClusterIP" || svcs[0].Headless ||
		len(svcs[0].Ports) != 1 || svcs[0].Ports[0] != want {
		t.Fatalf("services: %+v %v %v; want web with port %+v", svcs, cut, err, want)
	}
	pods, _, err := c.Pods(ctx, ref, "default", "app=web")
	if err != nil || len(pods) != 1 || pods[0].Name != "web-1" || !pods[0].Ready || pods[0].Phase != "Running" ||
		pods[0].Labels["app"] != "web" || len(pods[0].Ports) != 1 || pods[0].Ports[0] != (localapi.PodPort{Port: 8080, Protocol: "TCP"}) {
		t.Fatalf("pods app=web: %+v %v", pods, err)
	}
	if pods, _, err := c.Pods(ctx, ref, "default", "app=other"); err != nil || len(pods) != 0 || pods == nil {
		t.Fatalf("pods app=other: %#v %v; want an empty list", pods, err)
	}
	if _, _, err := c.Pods(ctx, ref, "default", "app in (web"); statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "not a label selector") {
		t.Fatalf("a bad selector: %v; want 400", err)
	}
	if _, _, err := c.Services(ctx, ref, ""); statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("services without a namespace: %v; want 400 asking for it", err)
	}

	_, _, err = c.Pods(ctx, ref, "secret", "")
	if statusCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), `may not list pods in namespace "secret"`) ||
		!strings.Contains(err.Error(), "type the label selector and port instead") || !strings.Contains(err.Error(), `User "dev" cannot list`) {
		t.Fatalf("pods where RBAC forbids: %v; want 403 saying what is forbidden and to type instead", err)
	}

	_, _, err = c.Namespaces(ctx, localapi.ClusterRef{Kubeconfig: kc, Context: "dead"})
	if statusCode(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("namespaces of an unreachable cluster: %v; want 502 saying it is unreachable", err)
	}
	_, _, err = c.Namespaces(ctx, localapi.ClusterRef{Kubeconfig: kc, Context: "nope"})
	if statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `context "nope" not found`) {
		t.Fatalf("an unknown context: %v; want 400 naming it", err)
	}

	// A namespace with more Services than the cap: the API server answers
	// a page of MaxListItems and a continue token; the list says it was cut.
	big := make([]corev1.Service, localapi.MaxListItems)
	for i := range big {
		big[i] = corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%04d", i), Namespace: "big"}}
	}
	var limit int64
	w.cs.PrependReactor("list", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() != "big" {
			return false, nil, nil
		}
		limit = a.(k8stesting.ListActionImpl).ListOptions.Limit
		return true, &corev1.ServiceList{ListMeta: metav1.ListMeta{Continue: "more"}, Items: big}, nil
	})
	if svcs, cut, err := c.Services(ctx, ref, "big"); err != nil || !cut || len(svcs) != localapi.MaxListItems || limit != localapi.MaxListItems {
		t.Fatalf("a long list: %d services, cut %v, %v, asked for %d; want %d, cut, asked for as many", len(svcs), cut, err, limit, localapi.MaxListItems)
	}
}

// TestRelaysThroughTheAPI: relays as `kftray relay list` classifies them;
// clean deletes this user's orphans only.
func TestRelaysThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	w := testWorld(t)
	me := relay.LocalOwner("")
	dir := shortDir(t)
	st := openStore(t, dir)
	cfg := fwdconfig.Config{Alias: "dns", Namespace: "default", WorkloadType: "proxy", Protocol: "udp", RemoteAddress: "10.0.0.10", RemotePort: 53}
	if err := st.AddConfig(ctx, &cfg); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(cfg.ID)
	for _, r := range []struct{ name, user, session string }{
		{"kftray-relay-1-live", me.User, "live"},   // a live process forwards through it
		{"kftray-relay-1-old", me.User, "old"},     // an earlier daemon's: orphan
		{"kftray-relay-1-bob", "bob", "elsewhere"}, // another user's
	} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: "default",
			Labels: map[string]string{manifest.LabelManagedBy: manifest.ManagedBy, manifest.LabelName: manifest.AppName,
				manifest.LabelOwnerSession: r.session, manifest.LabelConfigID: id},
			Annotations: map[string]string{"kftray.dev/owner-user": r.user, "kftray.dev/owner-host": me.Host}}}
		if _, err := w.cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := runDaemon(t, Options{Dir: dir, Engine: w.engine()})
	// A live process forwards through the first (this process stands in
	// for it; written after the daemon started, which clears its own pid's
	// states as stale).
	if err := st.PutState(ctx, &store.State{ConfigID: cfg.ID, Status: fwdconfig.StatusRunning, PID: os.Getpid(),
		Pod: "kftray-relay-1-live-5d7cb76886-rhjpd"}); err != nil {
		t.Fatal(err)
	}
	list, err := c.Relays(ctx, localapi.RelayQuery{Namespace: "default"})
	if err != nil || len(list) != 3 {
		t.Fatalf("relays: %+v %v", list, err)
	}
	want := map[string]string{"kftray-relay-1-live": localapi.RelayInUse, "kftray-relay-1-old": localapi.RelayOrphan, "kftray-relay-1-bob": localapi.RelayOtherOwner}
	for _, r := range list {
		if r.Status != want[r.Name] || r.ConfigID != id {
			t.Errorf("relay %s: %s (config %s), want %s (config %s)", r.Name, r.Status, r.ConfigID, want[r.Name], id)
		}
	}
	gone, err := c.CleanRelays(ctx, localapi.RelayQuery{Namespace: "default"})
	if err != nil || len(gone) != 1 || gone[0].Name != "kftray-relay-1-old" {
		t.Fatalf("clean: %+v %v; want the orphan deleted", gone, err)
	}
	left, _ := w.cs.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{})
	if len(left.Items) != 2 {
		t.Fatalf("%d deployments left, want the live one and bob's", len(left.Items))
	}
	if gone, err := c.CleanRelays(ctx, localapi.RelayQuery{Namespace: "default"}); err != nil || len(gone) != 0 || gone == nil {
		t.Fatalf("clean again: %#v %v; want nothing deleted", gone, err)
	}
}

// TestNeedsHelper: which configs cannot bind without the root helper.
func TestNeedsHelper(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  fwdconfig.Config
		want bool
	}{
		{"high port", fwdconfig.Config{LocalPort: 8080}, false},
		{"free port", fwdconfig.Config{}, false},
		{"hostname", fwdconfig.Config{Alias: "web.dev.test", DomainEnabled: true}, true},
		{"loopback address", fwdconfig.Config{AutoLoopbackAddress: true}, true},
		{"udp hostname", fwdconfig.Config{Alias: "dns.dev.test", DomainEnabled: true, Protocol: "udp", WorkloadType: "proxy"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := forwarder.NeedsHelper(tc.cfg)
			if got != tc.want || got != (why != "") {
				t.Fatalf("NeedsHelper = %v (%q), want %v", got, why, tc.want)
			}
		})
	}
	if os.Geteuid() != 0 {
		if got, why := forwarder.NeedsHelper(fwdconfig.Config{LocalPort: 80}); !got || !strings.Contains(why, "ports below") {
			t.Fatalf("port 80 as a user: %v %q; want the helper", got, why)
		}
	}
}
