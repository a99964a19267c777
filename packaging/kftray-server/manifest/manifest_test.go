package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func params() Params {
	return Params{
		Name: Name(42, "s1a2b3"), Namespace: "dev", Image: "registry.example/kftray-server:v1.2.3",
		Mode: "udp", RemoteAddress: "kube-dns.kube-system.svc.cluster.local", RemotePort: 53,
		ConfigID: 42, OwnerUser: `CORP\alice`, OwnerHost: "alice-laptop.local", OwnerSession: "s1a2b3",
	}
}

func env(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func TestRenderDefault(t *testing.T) {
	d, err := Render(DefaultTemplate(), "built-in", params())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "kftray-relay-42-s1a2b3" || d.Namespace != "dev" || *d.Spec.Replicas != 1 {
		t.Fatalf("identity: %s/%s replicas %d", d.Namespace, d.Name, *d.Spec.Replicas)
	}
	want := map[string]string{
		LabelManagedBy: "kftray", LabelName: "kftray-server", LabelConfigID: "42",
		LabelOwnerUser: "CORP_alice", LabelOwnerHost: "alice-laptop.local", LabelOwnerSession: "s1a2b3",
	}
	for k, v := range want {
		if d.Labels[k] != v || d.Spec.Template.Labels[k] != v {
			t.Errorf("label %s: deployment %q, pod %q; want %q", k, d.Labels[k], d.Spec.Template.Labels[k], v)
		}
	}
	if d.Annotations["kftray.dev/owner-user"] != `CORP\alice` {
		t.Errorf("owner annotation %q", d.Annotations["kftray.dev/owner-user"])
	}
	sel, _ := labels.ValidatedSelectorFromSet(d.Spec.Selector.MatchLabels)
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Fatalf("selector %v does not match pod labels %v", sel, d.Spec.Template.Labels)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example/kftray-server:v1.2.3" {
		t.Errorf("image %q", c.Image)
	}
	e := env(c)
	for k, v := range map[string]string{"PROXY_TYPE": "udp", "REMOTE_ADDRESS": "kube-dns.kube-system.svc.cluster.local",
		"REMOTE_PORT": "53", "LOCAL_PORT": "8080", "KFTRAY_SERVER_HEALTH_ADDR": ":8081", "KFTRAY_SERVER_UDP_IDLE_TIMEOUT": "2m0s"} {
		if e[k] != v {
			t.Errorf("env %s=%q, want %q", k, e[k], v)
		}
	}
	ps := d.Spec.Template.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("pod must run as non-root: %+v", ps)
	}
	if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("container may escalate privileges: %+v", c.SecurityContext)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources not set: %+v", c.Resources)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe: %+v", c.ReadinessProbe)
	}
}

// Values come from user configs: they must stay values, never YAML.
func TestRenderQuotesValues(t *testing.T) {
	p := params()
	p.RemoteAddress = "db\"\n      hostNetwork: true\n#"
	p.OwnerHost = "host: {evil}"
	p.PodAnnotations = map[string]string{"sidecar.istio.io/inject": "false", "x": "a\nb: c"}
	d, err := Render(DefaultTemplate(), "built-in", p)
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Spec.HostNetwork {
		t.Fatal("remote address injected hostNetwork")
	}
	if got := env(d.Spec.Template.Spec.Containers[0])["REMOTE_ADDRESS"]; got != p.RemoteAddress {
		t.Fatalf("REMOTE_ADDRESS = %q, want the value verbatim", got)
	}
	if a := d.Spec.Template.Annotations; len(a) != 2 || a["sidecar.istio.io/inject"] != "false" || a["x"] != "a\nb: c" {
		t.Fatalf("pod annotations %v", a)
	}
}

func TestUserTemplateCannotDropIdentity(t *testing.T) {
	tmpl := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: renamed
  namespace: kube-system
  labels: {team: "x"}
spec:
  replicas: 3
  selector: {matchLabels: {team: "x"}}
  template:
    metadata: {labels: {team: "x"}}
    spec:
      containers:
        - name: relay
          image: {{ json .Image }}
          resources: {limits: {memory: 1Gi}}
`
	d, err := Render(tmpl, "/home/alice/.config/kftray/"+TemplateFile, params())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != params().Name || d.Namespace != "dev" || *d.Spec.Replicas != 1 {
		t.Fatalf("identity not enforced: %s/%s replicas %d", d.Namespace, d.Name, *d.Spec.Replicas)
	}
	if d.Labels[LabelManagedBy] != "kftray" || d.Spec.Template.Labels[LabelConfigID] != "42" || d.Labels["team"] != "x" {
		t.Fatalf("labels: %v / %v", d.Labels, d.Spec.Template.Labels)
	}
	if d.Spec.Selector.MatchLabels[LabelInstance] != d.Name {
		t.Fatalf("selector: %v", d.Spec.Selector)
	}
	if got := d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String(); got != "1Gi" {
		t.Fatalf("user's resources lost: %s", got)
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name   string
		tmpl   string
		change func(*Params)
		want   string
	}{
		{"latest", "", func(p *Params) { p.Image = "ghcr.io/x/kftray-server:latest" }, "uses :latest"},
		{"untagged", "", func(p *Params) { p.Image = "localhost:5000/kftray-server" }, "has no tag"},
		{"mode", "", func(p *Params) { p.Mode = "ssh" }, `relay mode "ssh"`},
		{"port", "", func(p *Params) { p.RemotePort = 0 }, "out of range"},
		{"namespace", "", func(p *Params) { p.Namespace = "" }, "namespace is empty"},
		{"name", "", func(p *Params) { p.Name = "Bad_Name" }, "not a valid Kubernetes name"},
		{"template syntax", "{{ .Nope", nil, "my.tmpl"},
		{"template field", "{{ .Nope }}", nil, "can't evaluate field Nope"},
		{"not yaml", "a: [", nil, "does not render to a valid Deployment"},
		{"typo", "apiVersion: apps/v1\nkind: Deployment\nspec: {replica: 1}\n", nil, `unknown field "replica"`},
		{"service", "apiVersion: v1\nkind: Service\n", nil, "must render an apps/v1 Deployment"},
		{"no containers", "apiVersion: apps/v1\nkind: Deployment\n", nil, "no containers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := params()
			if tt.change != nil {
				tt.change(&p)
			}
			tmpl := tt.tmpl
			if tmpl == "" {
				tmpl = DefaultTemplate()
			}
			_, err := Render(tmpl, "my.tmpl", p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want error mentioning %q", err, tt.want)
			}
		})
	}
	p := params()
	p.Image = "ghcr.io/x/kftray-server@sha256:" + strings.Repeat("a", 64)
	if _, err := Render(DefaultTemplate(), "built-in", p); err != nil {
		t.Fatalf("digest-pinned image rejected: %v", err)
	}
}

func TestTemplateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kftray")
	text, src, err := LoadTemplate(dir)
	if err != nil || src != "built-in" || text != DefaultTemplate() {
		t.Fatalf("no file: %q %v", src, err)
	}
	path, err := WriteDefaultTemplate(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("edited {{ json .Name }}"), 0o600)
	if _, err := WriteDefaultTemplate(dir); err != nil {
		t.Fatal(err)
	}
	text, src, err = LoadTemplate(dir)
	if err != nil || src != path || text != "edited {{ json .Name }}" {
		t.Fatalf("user file not kept or not used: %q %q %v", src, text, err)
	}
}

func TestNameAndDefaults(t *testing.T) {
	for _, tt := range []struct {
		id      int64
		session string
		want    string
	}{
		{7, "", "kftray-relay-7"},
		{7, "ABC.def", "kftray-relay-7-abc-def"},
		{7, strings.Repeat("x", 80), "kftray-relay-7-" + strings.Repeat("x", 48)},
	} {
		if got := Name(tt.id, tt.session); got != tt.want {
			t.Errorf("Name(%d, %q) = %q, want %q", tt.id, tt.session, got, tt.want)
		}
	}
	if img := DefaultImage(); strings.HasSuffix(img, ":latest") || !strings.Contains(img, ":") {
		t.Fatalf("default image %q must be pinned", img)
	}
	p := params()
	p.Image = ""
	p.UDPIdleTimeout = 30 * time.Second
	d, err := Render(DefaultTemplate(), "built-in", p)
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Spec.Containers[0].Image != DefaultImage() {
		t.Fatalf("image %q, want %q", d.Spec.Template.Spec.Containers[0].Image, DefaultImage())
	}
}
