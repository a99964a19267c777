//go:build e2e

package e2e_test

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/fwdconfig"
)

var (
	readServices = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services", "pods"}, Verbs: []string{"get", "list", "watch"}}
	readSlices   = rbacv1.PolicyRule{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}}
)

// TestRBACErrors: with a real RBAC authorizer, a forward whose user lacks a
// permission says which verb on which resource is missing.
func TestRBACErrors(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	deploy(t, c, ns, 1)
	for _, tc := range []struct {
		name  string
		rules []rbacv1.PolicyRule
		tr    tunnel.Transport
		want  string // in LastError; empty: the forward runs
	}{
		{"no portforward", []rbacv1.PolicyRule{readServices, readSlices}, tunnel.Auto,
			"RBAC must allow create pods/portforward (and get, for the WebSocket transport)"},
		{"no endpointslices", []rbacv1.PolicyRule{readServices}, tunnel.Auto,
			`you may not list/watch endpointslices in namespace "` + ns + `"`},
		{"websocket without create", []rbacv1.PolicyRule{readServices, readSlices,
			{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"get"}}}, tunnel.WebSocket,
			"RBAC must allow get and create pods/portforward"},
		{"create is enough", []rbacv1.PolicyRule{readServices, readSlices,
			{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"create"}}}, tunnel.Auto, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa := strings.ReplaceAll(tc.name, " ", "-")
			kc := c.LimitedKubeconfig(t, ns, sa, tc.rules)
			m := forwarder.NewManager(forwarder.Options{Transport: tc.tr})
			defer m.StopAll()
			cfg := fwdconfig.Config{ID: 1, Kubeconfig: kc, Namespace: ns, WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80}
			if err := m.Start(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			f := m.Forward(1)
			if tc.want == "" {
				st := waitState(t, f, "running", func(s forwarder.State) bool { return s.Phase == forwarder.Running })
				if _, err := whoami(st.Address); err != nil {
					t.Fatal(err)
				}
				t.Logf("runs with create only, over %s", st.Transport)
				return
			}
			// RBAC changes reach the authorizer's cache a moment after they
			// are made, so the first error may still be about another rule.
			st := waitState(t, f, "an error saying "+tc.want, func(s forwarder.State) bool {
				return s.Phase == forwarder.Retrying && strings.Contains(s.LastError, tc.want)
			})
			t.Logf("%s", st.LastError)
		})
	}
}
