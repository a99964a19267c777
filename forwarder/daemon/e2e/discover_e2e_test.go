//go:build e2e

package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// TestDiscoverFromServiceAnnotations: Services annotated as kftray's docs
// show ("test-9999-http"), with hyphenated aliases and port names, without
// kftray.app/configs, not enabled, and with bad entries. A dry run changes
// nothing; the discovery adds the configs, reports the bad entries per
// Service, and a second run changes nothing. The forwards of named ports
// reach the pod's named targetPorts.
func TestDiscoverFromServiceAnnotations(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	app := cluster.WebApp(1)
	if err := c.Deploy(ctx, ns, app); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	annotate := func(name string, ann map[string]string) {
		t.Helper()
		svc, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Annotations = ann
		if _, err := c.Client.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// web: Service ports http 80 -> targetPort "http" (8080), echo 9000 ->
	// targetPort "echo" (9000).
	annotate("web", map[string]string{"kftray.app/enabled": "true",
		"kftray.app/configs": "test-9999-http, my-web-api-47181-http,echo-svc-47182-echo ,broken-entry,nope-1-missing"})
	// Services without pods are enough for discovery.
	mk := func(name string, ann map[string]string, ports ...corev1.ServicePort) {
		t.Helper()
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: ann},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: ports}}
		if _, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("db", map[string]string{"kftray.app/enabled": "true"},
		corev1.ServicePort{Name: "pg", Port: 5432, TargetPort: intstr.FromInt32(5432)},
		corev1.ServicePort{Name: "metrics", Port: 9187, TargetPort: intstr.FromString("metrics")})
	mk("hidden", map[string]string{"kftray.app/enabled": "false", "kftray.app/configs": "hidden-1234-80"},
		corev1.ServicePort{Port: 80})
	mk("plain", nil, corev1.ServicePort{Port: 80})

	k, dir := kftraytest.New(t, "kfe")
	base := []string{"config", "discover", "--kubeconfig", c.Kubeconfig, "--context", c.Context, "-n", ns, "--json"}
	run := func(extra ...string) localapi.DiscoverResult {
		t.Helper()
		var res localapi.DiscoverResult
		out := k.Run(append(append([]string{}, base...), extra...)...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		return res
	}
	actions := func(res localapi.DiscoverResult) map[string]string {
		m := map[string]string{}
		for _, ch := range res.Changes {
			m[ch.Config.Alias] = ch.Action
		}
		return m
	}

	dry := run("--dry-run")
	want := map[string]string{"test": "add", "my-web-api": "add", "echo-svc": "add", "db-pg": "add", "db-metrics": "add"}
	if got := actions(dry); !equalMaps(got, want) || !dry.DryRun {
		t.Fatalf("dry run: %v (dry_run %v); want %v", got, dry.DryRun, want)
	}
	var stored []fwdconfig.Config
	if err := json.Unmarshal([]byte(k.Run("config", "list", "--json")), &stored); err != nil || len(stored) != 0 {
		t.Fatalf("after the dry run the store has %v (%v); want nothing", stored, err)
	}
	if got := strings.Join(dry.Services, ","); got != ns+"/db,"+ns+"/web" {
		t.Fatalf("services %s; want the two enabled ones, %s/db and %s/web", got, ns, ns)
	}
	if len(dry.Problems) != 2 {
		t.Fatalf("problems: %+v; want broken-entry and nope-1-missing of %s/web", dry.Problems, ns)
	}
	for _, p := range dry.Problems {
		if p.Namespace != ns || p.Service != "web" || (p.Entry != "broken-entry" && p.Entry != "nope-1-missing") {
			t.Errorf("problem %+v", p)
		}
	}

	res := run()
	if got := actions(res); !equalMaps(got, want) || len(res.Result.Added) != 5 {
		t.Fatalf("discover: %v, result %+v; want %v added", got, res.Result, want)
	}
	byAlias := map[string]fwdconfig.Config{}
	if err := json.Unmarshal([]byte(k.Run("config", "list", "--json")), &stored); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range stored {
		byAlias[cfg.Alias] = cfg
	}
	for alias, w := range map[string][2]int{"test": {9999, 80}, "my-web-api": {47181, 80}, "echo-svc": {47182, 9000}, "db-pg": {5432, 5432}, "db-metrics": {9187, 9187}} {
		cfg := byAlias[alias]
		if cfg.LocalPort != w[0] || cfg.RemotePort != w[1] || cfg.Context != c.Context || cfg.Namespace != ns {
			t.Errorf("%s: %+v; want local %d remote %d in %s/%s", alias, cfg, w[0], w[1], c.Context, ns)
		}
	}

	again := run()
	for alias, a := range actions(again) {
		if a != "unchanged" {
			t.Errorf("second discovery: %s %s; want unchanged", alias, a)
		}
	}
	// The table output names what was skipped and why.
	table := k.Run("config", "discover", "--kubeconfig", c.Kubeconfig, "--context", c.Context, "-n", ns, "--dry-run")
	if !strings.Contains(table, "dry run, nothing changed: 2 services: 0 to add, 0 to update, 5 unchanged, 2 skipped") {
		t.Errorf("table output:\n%s", table)
	}

	// Named remote ports went through the Service to its named targetPorts.
	k.Run("start", "my-web-api", "echo-svc", "--wait", "60s")
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()
	web, err := client.Forward(ctx, "my-web-api")
	if err != nil {
		t.Fatal(err)
	}
	if got := kftraytest.Get(t, web.Address); got != pods[0] {
		t.Fatalf("my-web-api answered %q, want the pod %s", got, pods[0])
	}
	echo, err := client.Forward(ctx, "echo-svc")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", echo.Address, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("echo-svc answered %q (%v); want the echo of ping", buf, err)
	}
	k.Run("stop", "--all")
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
