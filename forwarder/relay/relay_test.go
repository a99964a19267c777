package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

// These unit tests check this package's own logic (naming, ownership,
// adoption, error wording, orphan rules, pod status reading) against
// client-go's object tracker. Deployments really starting pods is covered
// by the e2e tests on the dev cluster.

var alice = Owner{User: "alice", Host: "laptop", Session: "run1"}

func spec() Spec {
	return Spec{ConfigID: 5, Namespace: "dev", Mode: "udp", RemoteAddress: "10.0.0.10", RemotePort: 53}
}

func TestDeployDeleteLifecycle(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset()
	d := &Deployer{Client: c, Host: "https://api", Owner: alice, Image: "reg/kftray-server:v1", Log: zerolog.Nop()}
	r, err := d.Deploy(ctx, spec())
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "kftray-relay-5-run1" || r.Namespace != "dev" || r.Port != 8080 {
		t.Fatalf("relay %+v", r)
	}
	got, err := c.AppsV1().Deployments("dev").Get(ctx, r.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels[manifest.LabelManagedBy] != "kftray" || got.Labels[manifest.LabelOwnerSession] != "run1" {
		t.Fatalf("labels %v", got.Labels)
	}
	// Deploying again in the same session (a retry) updates, never duplicates.
	if _, err := d.Deploy(ctx, spec()); err != nil {
		t.Fatalf("redeploy: %v", err)
	}
	if ok, err := d.Exists(ctx, r); !ok || err != nil {
		t.Fatalf("exists: %v %v", ok, err)
	}
	if err := d.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Exists(ctx, r); ok || err != nil {
		t.Fatalf("after delete: exists %v %v", ok, err)
	}
	if err := d.Delete(ctx, r); err != nil {
		t.Fatalf("deleting a deleted relay: %v", err)
	}
}

func TestDeployNeverTakesOverForeignDeployment(t *testing.T) {
	foreign := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "kftray-relay-5-run1", Namespace: "dev", Labels: map[string]string{"app": "theirs"}}}
	d := &Deployer{Client: fake.NewClientset(foreign), Owner: alice, Image: "reg/x:v1", Log: zerolog.Nop()}
	_, err := d.Deploy(context.Background(), spec())
	if err == nil || !strings.Contains(err.Error(), "not this kftray session's relay") {
		t.Fatalf("got %v", err)
	}
}

func TestDeployExplainsRBAC(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("create", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", nil)
	})
	d := &Deployer{Client: c, Host: "https://api", Owner: alice, Image: "reg/x:v1", Log: zerolog.Nop()}
	_, err := d.Deploy(context.Background(), spec())
	if err == nil || !strings.Contains(err.Error(), "may not create deployments") || !apierrors.IsForbidden(err) {
		t.Fatalf("got %v", err)
	}
}

func TestDeployUsesUserTemplate(t *testing.T) {
	dir := t.TempDir()
	path, err := manifest.WriteDefaultTemplate(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &Deployer{Client: fake.NewClientset(), Owner: alice, TemplateDir: dir, Image: "reg/x:v1", Log: zerolog.Nop()}
	if _, err := d.Deploy(context.Background(), spec()); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "kind: [")
	_, err = d.Deploy(context.Background(), spec())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("broken user template: got %v, want its path named", err)
	}
}

func TestOrphansAndClean(t *testing.T) {
	ctx := context.Background()
	mk := func(name, user, host, session string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dev",
			Labels: map[string]string{manifest.LabelManagedBy: "kftray", manifest.LabelName: manifest.AppName,
				manifest.LabelOwnerSession: session, manifest.LabelConfigID: "1"},
			Annotations: map[string]string{"kftray.dev/owner-user": user, "kftray.dev/owner-host": host}}}
	}
	c := fake.NewClientset(
		mk("mine-live", "alice", "laptop", "run1"),
		mk("mine-old", "alice", "laptop", "run0"),
		mk("bob-old", "bob", "laptop", "run0"),
		mk("alice-other-host", "alice", "desktop", "x"),
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "not-ours", Namespace: "dev"}},
	)
	list, err := List(ctx, c, "https://api", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("listed %d relays, want the 4 labelled as ours: %+v", len(list), list)
	}
	orphans := alice.Orphans(list)
	if len(orphans) != 1 || orphans[0].Name != "mine-old" {
		t.Fatalf("orphans %+v, want only mine-old", orphans)
	}
	if err := Clean(ctx, c, "https://api", orphans); err != nil {
		t.Fatal(err)
	}
	list, _ = List(ctx, c, "https://api", "dev")
	for _, r := range list {
		if r.Name == "mine-old" {
			t.Fatal("orphan still there after Clean")
		}
	}
	if len(list) != 3 {
		t.Fatalf("Clean removed more than the orphan: %+v", list)
	}
}

func pod(name string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dev",
		Labels: map[string]string{manifest.LabelName: manifest.AppName, manifest.LabelInstance: "kftray-relay-5-run1"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func ready(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}

func waiting(reason, msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "kftray-server", Image: "reg/x:v1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	}
}

func TestWaitReady(t *testing.T) {
	r := &Relay{Namespace: "dev", Name: "kftray-relay-5-run1"}
	tests := []struct {
		name    string
		pods    []runtime.Object
		want    string // pod name, or a substring of the error
		wantErr bool
	}{
		{"ready", []runtime.Object{pod("a", nil), pod("b", ready)}, "b", false},
		{"image pull", []runtime.Object{pod("a", waiting("ImagePullBackOff", "not found"))}, "cannot pull the relay image reg/x:v1", true},
		{"crash loop", []runtime.Object{pod("a", waiting("CrashLoopBackOff", ""))}, "keeps crashing", true},
		{"unschedulable", []runtime.Object{pod("a", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}
		})}, "not ready after 600ms: pod a cannot be scheduled (Unschedulable: 0/3 nodes", true},
		{"no pods", nil, "no relay pod was created", true},
		{"terminating ready pod", []runtime.Object{pod("a", func(p *corev1.Pod) { ready(p); now := metav1.Now(); p.DeletionTimestamp = &now })}, "terminating and has no replacement", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Deployer{Client: fake.NewClientset(tt.pods...), Owner: alice, Log: zerolog.Nop()}
			got, err := d.WaitReady(context.Background(), r, 600*time.Millisecond)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %q, %v; want error with %q", got, err, tt.want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
