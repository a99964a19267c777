//go:build e2e

package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// TestInterfacesAPIOnTheDevCluster: what the add/edit forms of the TUI,
// web UI and MCP ask the daemon, against the real API server and RBAC:
// contexts, namespaces, Services with ports, pods; a listing RBAC denies
// answers 403 saying so and to type the value; a config created through
// the API runs, and an update restarts it on the new port.
func TestInterfacesAPIOnTheDevCluster(t *testing.T) {
	c, ns, pods := deployWeb(t, cluster.WebApp(1))
	ctx := context.Background()
	k, dir := kftraytest.New(t, "kfe")
	k.Run("daemon", "start")
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()

	ctxs, err := client.Contexts(ctx, c.Kubeconfig)
	if err != nil || !slices.ContainsFunc(ctxs, func(x localapi.KubeContext) bool { return x.Name == c.Context && x.Current }) {
		t.Fatalf("contexts: %+v %v; want %s, current", ctxs, err, c.Context)
	}
	ref := localapi.ClusterRef{Kubeconfig: c.Kubeconfig, Context: c.Context}
	nss, cut, err := client.Namespaces(ctx, ref)
	if err != nil || cut || !slices.ContainsFunc(nss, func(n localapi.Namespace) bool { return n.Name == ns && n.Phase == "Active" }) {
		t.Fatalf("namespaces: %+v %v %v; want %s, active", nss, cut, err, ns)
	}
	svcs, _, err := client.Services(ctx, ref, ns)
	want := []localapi.ServicePort{{Name: "http", Port: 80, TargetPort: "http", Protocol: "TCP"}, {Name: "echo", Port: 9000, TargetPort: "echo", Protocol: "TCP"}}
	if err != nil || len(svcs) != 1 || svcs[0].Name != "web" || svcs[0].Type != "ClusterIP" || !slices.Equal(svcs[0].Ports, want) {
		t.Fatalf("services: %+v %v; want web with ports %+v", svcs, err, want)
	}
	podList, _, err := client.Pods(ctx, ref, ns, "app=web")
	if err != nil || len(podList) != 1 || podList[0].Name != pods[0] || !podList[0].Ready || podList[0].Phase != "Running" ||
		podList[0].Labels["app"] != "web" || len(podList[0].Ports) != 2 || podList[0].Ports[0] != (localapi.PodPort{Name: "http", Port: 8080, Protocol: "TCP"}) {
		t.Fatalf("pods app=web: %+v %v; want %s ready with its ports", podList, err, pods[0])
	}

	// What a picker waits for: each call loads the kubeconfig and lists.
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"contexts", func() error { _, err := client.Contexts(ctx, c.Kubeconfig); return err }},
		{"namespaces", func() error { _, _, err := client.Namespaces(ctx, ref); return err }},
		{"services", func() error { _, _, err := client.Services(ctx, ref, ns); return err }},
		{"pods", func() error { _, _, err := client.Pods(ctx, ref, ns, "app=web"); return err }},
	} {
		const n = 20
		start := time.Now()
		for range n {
			if err := call.do(); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: %v per call (mean of %d)", call.name, time.Since(start)/n, n)
	}

	// A user who may list Services in this namespace and nothing else.
	limited := c.LimitedKubeconfig(t, ns, "svc-only", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list"}}})
	lref := localapi.ClusterRef{Kubeconfig: limited, Context: c.Context}
	// RBAC changes reach the authorizer's cache a moment after they are made.
	kftraytest.Poll(t, "the limited user to list services", func() (bool, string) {
		s, _, err := client.Services(ctx, lref, ns)
		return err == nil && len(s) == 1, fmt.Sprintf("%+v %v", s, err)
	})
	_, _, err = client.Pods(ctx, lref, ns, "")
	var se *localapi.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden ||
		!strings.Contains(se.Msg, fmt.Sprintf("may not list pods in namespace %q", ns)) || !strings.Contains(se.Msg, "type the label selector and port instead") {
		t.Fatalf("pods as the limited user: %v; want 403 saying what is forbidden and to type instead", err)
	}
	t.Logf("pods as the limited user: %d %s", se.Code, se.Msg)
	_, _, err = client.Namespaces(ctx, lref)
	if !errors.As(err, &se) || se.Code != http.StatusForbidden || !strings.Contains(se.Msg, "may not list namespaces (cluster-wide); type the namespace instead") {
		t.Fatalf("namespaces as the limited user: %v; want 403", err)
	}

	// A config made in a form: created, started, edited while it runs.
	cfg := fwdconfig.Config{Alias: "web", Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: ns, WorkloadType: "service",
		Protocol: "tcp", Service: svcs[0].Name, RemotePort: int(svcs[0].Ports[0].Port), HTTPLogsAutoCleanup: true}
	if err := client.ValidateConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if res, err := client.Start(ctx, localapi.Selection{Refs: []string{"web"}}); err != nil || res.Failed() != 0 {
		t.Fatalf("start: %+v %v", res, err)
	}
	f := kftraytest.WaitForward(t, client, "web", "web running on "+pods[0], func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.Pod == pods[0]
	})
	if got := kftraytest.Get(t, f.Address); got != pods[0] {
		t.Fatalf("answered by %q, want %s", got, pods[0])
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	edit, err := client.Config(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	edit.LocalPort = port
	if err := client.UpdateConfig(ctx, "web", edit); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	kftraytest.WaitForward(t, client, "web", "web running on "+addr, func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.Address == addr
	})
	if got := kftraytest.Get(t, addr); got != pods[0] {
		t.Fatalf("after the edit answered by %q, want %s", got, pods[0])
	}
	k.Run("stop", "web")
	k.Run("daemon", "stop")
}
