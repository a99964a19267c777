package fwdconfig

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSameForward(t *testing.T) {
	base := Config{Context: "c", Namespace: "n", WorkloadType: "service", Protocol: "tcp", Service: "s", LocalPort: 1, RemotePort: 2}
	tests := []struct {
		name   string
		change func(c *Config)
		same   bool
	}{
		{"identical", func(c *Config) {}, true},
		{"alias differs", func(c *Config) { c.Alias = "x" }, true},
		{"context differs", func(c *Config) { c.Context = "d" }, false},
		{"namespace differs", func(c *Config) { c.Namespace = "m" }, false},
		{"protocol differs", func(c *Config) { c.Protocol = "udp" }, false},
		{"service differs", func(c *Config) { c.Service = "t" }, false},
		{"explicit local port differs", func(c *Config) { c.LocalPort = 3 }, false},
		{"explicit remote port differs", func(c *Config) { c.RemotePort = 3 }, false},
		{"no local port: ports ignored", func(c *Config) { c.LocalPort = 0; c.RemotePort = 9 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base
			tt.change(&b)
			if got := SameForward(&base, &b); got != tt.same {
				t.Errorf("SameForward = %v, want %v", got, tt.same)
			}
		})
	}
	pod := Config{Namespace: "n", WorkloadType: "pod", Protocol: "tcp", Target: "app=a", RemotePort: 1}
	pod2 := pod
	pod2.RemotePort, pod2.Service = 2, "ignored"
	if !SameForward(&pod, &pod2) {
		t.Error("pods with the same target differ")
	}
	pod2.Target = "app=b"
	if SameForward(&pod, &pod2) {
		t.Error("pods with different targets match")
	}
	proxy := Config{Namespace: "n", WorkloadType: "proxy", Protocol: "udp", RemoteAddress: "8.8.8.8", RemotePort: 53}
	proxy2 := proxy
	proxy2.RemoteAddress = "1.1.1.1"
	if SameForward(&proxy, &proxy2) {
		t.Error("proxies to different addresses match")
	}
}

func TestParseConfigsFileErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "the file is empty"},
		{"   \n", "the file is empty"},
		{"42", "expected a JSON array of configs or one config object"},
		{"[{]", "not valid JSON: line 1, column 3"},
		{"{\n\"alias\": }", "not valid JSON: line 2"},
		{`[{"alias":"a"}] trailing`, "not valid JSON"},
	}
	for _, tt := range tests {
		_, err := ParseConfigs([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfigs(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	// An empty array is a valid, empty file.
	if cs, err := ParseConfigs([]byte("[]")); err != nil || len(cs) != 0 {
		t.Errorf("ParseConfigs([]) = %v, %v", cs, err)
	}
}

func TestConfigJSON(t *testing.T) {
	in := `{"id": 7, "alias": "x", "service": "s", "namespace": "n", "remote_port": 1, "workload_type": "service",
		"protocol": "TCP", "domain_enabled": "false", "http_logs_auto_cleanup": "false", "ingress_annotations": {"b": "2", "a": "1"}}`
	var c Config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.ID != 7 || c.DomainEnabled || c.HTTPLogsAutoCleanup || c.IngressAnnotations["a"] != "1" {
		t.Errorf("decoded %+v", c)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":7,"alias":"x","namespace":"n","workload_type":"service","protocol":"tcp","service":"s","remote_port":1,` +
		`"http_logs_auto_cleanup":false,"ingress_annotations":"{\"a\":\"1\",\"b\":\"2\"}"}`
	if string(out) != want {
		t.Errorf("encoded\n got %s\nwant %s", out, want)
	}
	var back Config
	if err := json.Unmarshal(out, &back); err != nil || !SameContent(c, back) || back.ID != 7 {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"bogus": 1}`), &c); err == nil || !strings.Contains(err.Error(), "bogus: unknown field") {
		t.Errorf("unknown field: %v", err)
	}
}
