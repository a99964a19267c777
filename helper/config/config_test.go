package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func write(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name, body string
		mode       os.FileMode
		root       bool
		want       string // error substring, "" = ok
	}{
		{"ok", `{"allowed_uids":[1000]}`, 0o644, false, ""},
		{"unknown field", `{"allowed_uids":[1000],"alowed":1}`, 0o644, false, "unknown field"},
		{"pool outside loopback", `{"address_pool":"10.0.0.0/8"}`, 0o644, false, "loopback"},
		{"pool with 127.0.0.1", `{"address_pool":"127.0.0.0/8"}`, 0o644, false, "127.0.0.1"},
		{"bad suffix", `{"name_suffixes":["test"]}`, 0o644, false, "dot"},
		{"world-writable, root required", `{"allowed_uids":[1]}`, 0o666, true, "not group/world-writable"},
		{"udp low ports", `{"udp_low_ports":[53,123]}`, 0o644, false, ""},
		{"udp port 0", `{"udp_low_ports":[0]}`, 0o644, false, "list only ports 1-1023"},
		{"udp high port", `{"udp_low_ports":[5353]}`, 0o644, false, "list only ports 1-1023"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("ownership checks need a root-owned file")
			}
			_, err := Load(write(t, tt.body, tt.mode), tt.root)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json"), false); err == nil || !strings.Contains(err.Error(), "sudo kftray helper install") {
		t.Fatalf("missing config: %v", err)
	}
}

func TestWritableAncestorRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("ownership checks need root-owned files")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o777) // anyone could swap the subdirectory
	sub := filepath.Join(dir, "etc")
	os.Mkdir(sub, 0o755)
	p := filepath.Join(sub, "config.json")
	os.WriteFile(p, []byte(`{}`), 0o644)
	if _, err := Load(p, true); err == nil || !strings.Contains(err.Error(), "not writable by others") {
		t.Fatalf("err = %v", err)
	}
}

// udp_low_ports: absent means the default, [] means none, and both
// survive install's rewrite of the file.
func TestUDPLowPorts(t *testing.T) {
	for _, tt := range []struct {
		body string
		want []uint16
	}{
		{`{}`, DefaultUDPLowPorts},
		{`{"udp_low_ports":[]}`, []uint16{}},
		{`{"udp_low_ports":[53,123]}`, []uint16{53, 123}},
	} {
		c, err := Load(write(t, tt.body, 0o644), false)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := c.Marshal()
		again, err := Load(write(t, string(b), 0o644), false)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range [][]uint16{c.UDPPorts(), again.UDPPorts()} {
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s: udp ports %v, want %v (rewritten as %s)", tt.body, got, tt.want, b)
			}
		}
	}
}

func TestNamePolicyDefaults(t *testing.T) {
	var c Config
	if got := c.Suffixes(); len(got) != 1 || got[0] != ".test" || c.SingleLabel() {
		t.Fatalf("defaults: suffixes %v, single labels %v; want only .test, no single labels", got, c.SingleLabel())
	}
	yes := true
	c = Config{NameSuffixes: []string{".Local", ".test", ".corp.example"}, AllowSingleLabel: &yes}
	if got := strings.Join(c.Suffixes(), " "); got != ".test .local .corp.example" || !c.SingleLabel() {
		t.Fatalf("opt-in: suffixes %q, single labels %v", got, c.SingleLabel())
	}
	for s, ok := range map[string]bool{
		".test": true, ".corp.example": true, ".svc.cluster.local": true, ".Local": true,
		"test": false, ".": false, "..test": false, ".a b": false, ".-x": false, ".localhost": false, ".x.localhost": false, ".a#b": false,
	} {
		if err := ValidateSuffix(s); (err == nil) != ok {
			t.Errorf("ValidateSuffix(%q) = %v, want ok=%v", s, err, ok)
		}
	}
}
