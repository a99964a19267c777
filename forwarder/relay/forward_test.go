package relay

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kftray-go/kftray/fwdconfig"
)

func TestSpecFor(t *testing.T) {
	tests := []struct {
		name    string
		cfg     fwdconfig.Config
		relay   bool
		want    string // remote host:port and mode, or error substring
		wantErr bool
	}{
		{"udp service", fwdconfig.Config{ID: 1, Namespace: "dev", Service: "dns", Protocol: "udp", RemotePort: 53}, true, "udp dns.dev.svc.cluster.local:53", false},
		{"tcp proxy", fwdconfig.Config{ID: 2, Namespace: "dev", WorkloadType: "proxy", RemoteAddress: "db.vpc", RemotePort: 5432}, true, "tcp db.vpc:5432", false},
		{"udp proxy", fwdconfig.Config{ID: 3, Namespace: "dev", WorkloadType: "Proxy", Protocol: "UDP", RemoteAddress: "10.0.0.2", RemotePort: 514}, true, "udp 10.0.0.2:514", false},
		{"tcp service is not relayed", fwdconfig.Config{Namespace: "dev", Service: "web", Protocol: "tcp", RemotePort: 80}, false, "", false},
		{"proxy without address", fwdconfig.Config{Alias: "db", Namespace: "dev", WorkloadType: "proxy", RemotePort: 5432}, true, "db: workload_type proxy needs remote_address", true},
		{"udp pod", fwdconfig.Config{Namespace: "dev", WorkloadType: "pod", Target: "app=dns", Protocol: "udp", RemotePort: 53}, true, "udp :53", false},
		{"udp pod without selector", fwdconfig.Config{Namespace: "dev", WorkloadType: "pod", Protocol: "udp", RemotePort: 53}, true, "needs a label selector", true},
		{"udp pod bad selector", fwdconfig.Config{Namespace: "dev", WorkloadType: "pod", Target: "app in (", Protocol: "udp", RemotePort: 53}, true, "invalid label selector", true},
		{"no namespace", fwdconfig.Config{Service: "dns", Protocol: "udp", RemotePort: 53}, true, "namespace is empty", true},
		{"bad port", fwdconfig.Config{Namespace: "dev", Service: "dns", Protocol: "udp"}, true, "remote_port 0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Needed(tt.cfg); got != tt.relay {
				t.Fatalf("Needed = %v, want %v", got, tt.relay)
			}
			if !tt.relay {
				return
			}
			s, err := SpecFor(tt.cfg)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want error with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Mode + " " + net.JoinHostPort(s.RemoteAddress, itoa(s.RemotePort)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A UDP forward to a pod workload points its relay at a ready pod's IP and
// moves it when that pod goes.
func TestKeeperFollowsTargetPodIP(t *testing.T) {
	ctx := context.Background()
	mkPod := func(name, ip string, ready bool) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dev", Labels: map[string]string{"app": "dns"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
	}
	cs := fake.NewClientset(mkPod("dns-a", "10.1.0.1", true))
	_, ip, err := ReadyPodIP(ctx, cs, "test", "dev", "app=dns")
	if err != nil || ip != "10.1.0.1" {
		t.Fatalf("ReadyPodIP: %q %v", ip, err)
	}
	d := &Deployer{Client: cs, Owner: Owner{User: "u", Host: "h", Session: "s"}, Image: "reg/x:v1", Log: zerolog.Nop()}
	spec := Spec{ConfigID: 4, Namespace: "dev", Mode: "udp", RemoteAddress: ip, RemotePort: 53}
	r, err := d.Deploy(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	rf := NewKeeper(d, r, spec, "app=dns", time.Second)
	remote := func() string {
		dep, err := cs.AppsV1().Deployments("dev").Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "REMOTE_ADDRESS" {
				return e.Value
			}
		}
		return ""
	}
	rf.check()
	if got := remote(); got != "10.1.0.1" {
		t.Fatalf("unchanged pod: relay remote %q", got)
	}
	// dns-a stops being ready, dns-b is: the relay moves to dns-b's IP.
	cs.CoreV1().Pods("dev").Update(ctx, mkPod("dns-a", "10.1.0.1", false), metav1.UpdateOptions{})
	cs.CoreV1().Pods("dev").Create(ctx, mkPod("dns-b", "10.1.0.2", true), metav1.CreateOptions{})
	rf.check()
	if got := remote(); got != "10.1.0.2" {
		t.Fatalf("after the pod changed: relay remote %q, want 10.1.0.2", got)
	}
	// No ready pod at all: keep the last one rather than break the
	cs.CoreV1().Pods("dev").Delete(ctx, "dns-b", metav1.DeleteOptions{})
	rf.check()
	if got := remote(); got != "10.1.0.2" {
		t.Fatalf("with no ready pod: relay remote %q", got)
	}
}
