package kube

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func writeKubeconfig(t *testing.T, dir, name, current string, contexts ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\ncurrent-context: %q\nclusters:\n", current)
	for _, c := range contexts {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: https://%s.example:6443\n", c, c)
	}
	b.WriteString("users:\n- name: u\n  user:\n    token: t\ncontexts:\n")
	for _, c := range contexts {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: u\n", c, c)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	a := writeKubeconfig(t, dir, "a", "dev", "dev", "staging")
	b := writeKubeconfig(t, dir, "b", "", "prod")
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".kube"), 0o700)
	writeKubeconfig(t, filepath.Join(home, ".kube"), "config", "homectx", "homectx")

	for _, tc := range []struct {
		name       string
		env        string // KUBECONFIG
		src        Source
		wantCtx    string
		wantHost   string
		wantErr    string
		wantConfig bool // error wraps ErrConfig
	}{
		{"current context of the config's file", "", Source{Kubeconfig: a}, "dev", "https://dev.example:6443", "", false},
		{"named context", "", Source{Kubeconfig: a, Context: "staging"}, "staging", "https://staging.example:6443", "", false},
		{"KUBECONFIG with several files", a + string(os.PathListSeparator) + b, Source{Context: "prod"}, "prod", "https://prod.example:6443", "", false},
		{"default means KUBECONFIG", a, Source{Kubeconfig: "default"}, "dev", "https://dev.example:6443", "", false},
		{"home config when nothing set", "", Source{}, "homectx", "https://homectx.example:6443", "", false},
		{"unknown context lists existing", "", Source{Kubeconfig: a, Context: "qa"}, "", "", `context "qa" not found in ` + a + "; existing contexts: dev, staging", true},
		{"no current context", "", Source{Kubeconfig: b}, "", "", "has no current context", true},
		{"missing file", "", Source{Kubeconfig: filepath.Join(dir, "nope")}, "", "", "has no contexts (does the file exist?)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			t.Setenv("HOME", home)
			cl, err := Load(tc.src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				if tc.wantConfig && !errors.Is(err, ErrConfig) {
					t.Fatalf("error %v does not wrap ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cl.Context != tc.wantCtx || cl.Config.Host != tc.wantHost {
				t.Fatalf("context %q host %q, want %q %q", cl.Context, cl.Config.Host, tc.wantCtx, tc.wantHost)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	gr := schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}
	for _, tc := range []struct {
		name string
		op   Op
		err  error
		want string
	}{
		{"rbac", Op{Verb: "list/watch", Resource: "endpointslices", Namespace: "dev"},
			apierrors.NewForbidden(gr, "", errors.New("no")), `you may not list/watch endpointslices in namespace "dev"`},
		{"not found", Op{Verb: "get", Resource: "services", Namespace: "dev", Name: "web"},
			apierrors.NewNotFound(schema.GroupResource{Resource: "services"}, "web"), "service dev/web not found"},
		{"unauthorized", Op{Verb: "get", Resource: "services", Namespace: "dev"},
			apierrors.NewUnauthorized("expired"), "rejected the credentials"},
		{"unreachable", Op{Verb: "get", Resource: "services", Namespace: "dev"},
			fmt.Errorf("dial tcp 127.0.0.1:1: connect: connection refused"), "API server https://h unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Explain("https://h", tc.op, tc.err)
			if !strings.Contains(got.Error(), tc.want) || !errors.Is(got, tc.err) {
				t.Fatalf("got %q, want %q and the cause kept", got, tc.want)
			}
		})
	}
}

// Exec credential plugins and proxy-url come through clientcmd as kubectl
// has them.
func TestLoadExecAndProxy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config")
	cfg := `apiVersion: v1
kind: Config
current-context: c
clusters:
- name: c
  cluster:
    server: https://api.example:6443
    proxy-url: http://proxy.example:3128
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /usr/local/bin/get-token
      args: ["--cluster", "c"]
      interactiveMode: Never
contexts:
- name: c
  context: {cluster: c, user: u}
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cl, err := Load(Source{Kubeconfig: p})
	if err != nil {
		t.Fatal(err)
	}
	if cl.Config.ExecProvider == nil || cl.Config.ExecProvider.Command != "/usr/local/bin/get-token" {
		t.Errorf("exec provider not loaded: %+v", cl.Config.ExecProvider)
	}
	if cl.Config.Proxy == nil {
		t.Fatal("proxy-url not loaded")
	}
	u, err := cl.Config.Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "api.example:6443"}})
	if err != nil || u.String() != "http://proxy.example:3128" {
		t.Errorf("proxy %v, %v", u, err)
	}
}

func TestEnvironment(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	if err := os.WriteFile(a, []byte("apiVersion: v1\nkind: Config\ncurrent-context: dev\ncontexts:\n- name: dev\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: https://127.0.0.1:1}\nusers:\n- name: u\n  user: {token: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	t.Chdir(dir)
	for _, tc := range []struct {
		name, kubeconfig, home string
		want                   Source
	}{
		{"list, relative made absolute", "a" + string(filepath.ListSeparator) + missing, "", Source{Kubeconfig: a + string(filepath.ListSeparator) + missing, Context: "dev"}},
		{"unreadable: paths only", missing, "", Source{Kubeconfig: missing}},
		{"unset: ~/.kube/config", "", dir, Source{Kubeconfig: filepath.Join(dir, ".kube", "config")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.kubeconfig)
			t.Setenv("HOME", tc.home)
			if got := Environment(); got != tc.want {
				t.Fatalf("Environment() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
