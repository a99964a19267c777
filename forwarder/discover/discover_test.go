package discover

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestParseEntry(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Entry
		wantErr string
	}{
		{in: "test-9999-http", want: Entry{Alias: "test", LocalPort: 9999, RemotePort: intstr.FromString("http")}},
		{in: "api-8080-80", want: Entry{Alias: "api", LocalPort: 8080, RemotePort: intstr.FromInt32(80)}},
		{in: " my-shop-api-8080-80 ", want: Entry{Alias: "my-shop-api", LocalPort: 8080, RemotePort: intstr.FromInt32(80)}},
		{in: "a-b-c-1-grpc-web", want: Entry{Alias: "a-b-c", LocalPort: 1, RemotePort: intstr.FromString("grpc-web")}},
		{in: "web2-1-80-http", want: Entry{Alias: "web2-1", LocalPort: 80, RemotePort: intstr.FromString("http")}},
		{in: "web-80", wantErr: "is not alias-localPort-remotePort"},
		{in: "web-x-http", wantErr: "no local port number"},
		{in: "web", wantErr: "is not alias-localPort-remotePort"},
		{in: "-80-80", wantErr: "no alias"},
		{in: "web-0-80", wantErr: "local port"},
		{in: "web-70000-80", wantErr: "local port"},
		{in: "web-80-0", wantErr: "remote port 0"},
		{in: "web-80-", wantErr: "no remote port"},
	} {
		got, err := ParseEntry(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseEntry(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseEntry(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func svc(ns, name string, ann map[string]string, ports ...corev1.ServicePort) corev1.Service {
	return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
		Spec: corev1.ServiceSpec{Ports: ports}}
}

func port(name string, p int32, target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, TargetPort: target, Protocol: corev1.ProtocolTCP}
}

func enabled(configs string) map[string]string {
	m := map[string]string{EnabledAnnotation: "true"}
	if configs != "" {
		m[ConfigsAnnotation] = configs
	}
	return m
}

func TestFromServices(t *testing.T) {
	// Service port 80 -> targetPort 8080 and port 8080 -> 9090: mapping a
	// named port to its targetPort number (kftray) would pick the wrong
	// Service port; the config keeps the Service port.
	web := svc("shop", "web", enabled("web-front-8081-http,metrics-9100-metrics,raw-7000-8080,named-tp-7001-app-port,bad,missing-7002-nope"),
		port("http", 80, intstr.FromInt32(8080)), port("alt", 8080, intstr.FromInt32(9090)),
		port("metrics", 9100, intstr.FromString("prom")), port("", 81, intstr.FromString("app-port")))
	plain := svc("shop", "db", enabled(""), port("pg", 5432, intstr.FromInt32(5432)))
	two := svc("shop", "cache", enabled(""), port("redis", 6379, intstr.FromInt32(6379)), port("", 9121, intstr.FromInt32(9121)))
	sameName := svc("other", "db", enabled(""), port("pg", 5432, intstr.FromInt32(5432)))
	off := svc("shop", "hidden", map[string]string{EnabledAnnotation: "false", ConfigsAnnotation: "h-1-80"}, port("", 80, intstr.FromInt32(80)))
	dup := svc("shop", "dup", enabled("web-front-8082-80"), port("", 80, intstr.FromInt32(80)))
	ext := svc("shop", "ext", enabled(""))
	ext.Spec.Type, ext.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"

	res := FromServices([]corev1.Service{web, plain, two, sameName, off, dup, ext}, Options{Context: "dev", AliasAsDomain: true})

	type cfg struct {
		alias, ns, svc string
		local, remote  int
	}
	var got []cfg
	for _, c := range res.Configs {
		if c.Context != "dev" || !c.DomainEnabled || c.WorkloadType != "service" || c.Protocol != "tcp" {
			t.Errorf("config %s: context %q domain %v type %q proto %q", c.Alias, c.Context, c.DomainEnabled, c.WorkloadType, c.Protocol)
		}
		got = append(got, cfg{c.Alias, c.Namespace, c.Service, c.LocalPort, c.RemotePort})
	}
	want := []cfg{
		{"web-front", "shop", "web", 8081, 80},
		{"metrics", "shop", "web", 9100, 9100},
		{"raw", "shop", "web", 7000, 8080},
		{"named-tp", "shop", "web", 7001, 81}, // by its targetPort's name
		{"db", "shop", "db", 5432, 5432},
		{"cache-redis", "shop", "cache", 6379, 6379},
		{"cache-9121", "shop", "cache", 9121, 9121},
		{"db-other", "other", "db", 5432, 5432},
	}
	if len(got) != len(want) {
		t.Fatalf("configs:\n got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("config %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	wantProblems := map[string]string{
		"shop/web bad":               "not alias-localPort-remotePort",
		"shop/web missing-7002-nope": `remote port "nope" is neither`,
		"shop/dup web-front-8082-80": `alias "web-front" is already used by shop/web`,
		"shop/ext ":                  "ExternalName",
	}
	if len(res.Problems) != len(wantProblems) {
		t.Errorf("problems: %+v", res.Problems)
	}
	for _, p := range res.Problems {
		key := p.Namespace + "/" + p.Service + " " + p.Entry
		if w, ok := wantProblems[key]; !ok || !strings.Contains(p.Message, w) {
			t.Errorf("problem %q: %q; want one containing %q", key, p.Message, w)
		}
	}
	if strings.Join(res.Services, ",") != "shop/web,shop/db,shop/cache,other/db,shop/dup,shop/ext" {
		t.Errorf("services %v", res.Services)
	}
}
