//go:build e2e

package e2e_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/fwdconfig"
)

// limitedKubeconfig writes a kubeconfig for a service account of ns that
// the real RBAC authorizer allows only rules.
func limitedKubeconfig(t *testing.T, c *cluster.Cluster, ns, name string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := c.Client
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exp := int64(3600)
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Token = tok.Status.Token
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

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
			kc := limitedKubeconfig(t, c, ns, sa, tc.rules)
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
