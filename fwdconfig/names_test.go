package fwdconfig

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// nameCases are names and selectors on both sides of every rule in
// names.go and selector.go; they also seed the fuzz test.
var nameCases = []string{
	"", "a", "A", "0", "-", "a-", "-a", "a-b", "a.b", "a..b", ".a", "a.", "a_b", "a/b", "a/b/c", "/a", "a/",
	"web", "my-api", "123-abc", "1abc", "Web_1", "Bad_NS", "web.dev.test", "x.y/z", "X.y/z", "é", "a b", "a\tb",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 127) + "a",
	strings.Repeat("a", 63) + "/" + strings.Repeat("b", 63), strings.Repeat("a", 64) + ".com/b",
	"example.com/" + strings.Repeat("b", 64),
}

var selectorCases = []string{
	"app=web", "app==web", "app!=web", "app", "!app", "app,tier", "app=web,tier=fe", " app = web ",
	"app in (a,b)", "app notin (a)", "app in ()", "app in (,)", "app in (a,,b)", "app in (a,)", "app in (,a)",
	"app in (in)", "in=notin", "in in (in)", "app>1", "app<-1", "app>a", "app>", "app=", "app=,b",
	"app=web,", ",app", "=web", "app==", "app=!web", "!app=web", "!!app", "app in a", "app in (a b)", "app in (a",
	"app in (a)(", "app=(", "app)", "app!", "app=a=b", "app = web tier", "example.com/app=web", "/app=web",
	"a/b/c=d", "app=" + strings.Repeat("v", 63), "app=" + strings.Repeat("v", 64), "app=-web", "app=web_1.x",
	"app\x00=web", "app=we\x00b", "\x00", "app<>1", "app=<1", "app>=1", "app,,tier", "app\n=\rweb\t",
	"app in(a),tier notin(b),!x", "x in (foo,,baz),y,z notin ()",
}

// The names.go checks accept exactly what apimachinery's accept.
func TestNamesMatchApimachinery(t *testing.T) {
	for _, s := range append(nameCases, selectorCases...) {
		for _, tt := range []struct {
			name string
			ours string
			k8s  []string
		}{
			{"DNS-1123 label", checkDNS1123Label(s), validation.IsDNS1123Label(s)},
			{"DNS-1035 label", checkDNS1035Label(s), validation.IsDNS1035Label(s)},
			{"DNS-1123 subdomain", checkDNS1123Subdomain(s), validation.IsDNS1123Subdomain(s)},
			{"label key", checkLabelKey(s), validation.IsQualifiedName(s)},
			{"label value", checkLabelValue(s), validation.IsValidLabelValue(s)},
		} {
			if (tt.ours == "") != (len(tt.k8s) == 0) {
				t.Errorf("%s %q: ours says %q, apimachinery says %q", tt.name, s, tt.ours, tt.k8s)
			}
		}
	}
}

// checkSelector accepts exactly the selectors labels.Parse accepts, and
// counts the same requirements.
func FuzzSelectorMatchesApimachinery(f *testing.F) {
	for _, s := range append(selectorCases, nameCases...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := checkSelector(s)
		sel, kerr := labels.Parse(s)
		if (err == nil) != (kerr == nil) {
			t.Fatalf("selector %q: ours says %v, apimachinery says %v", s, err, kerr)
		}
		if err != nil {
			return
		}
		reqs, _ := sel.Requirements()
		if sel.Empty() != (n == 0) || len(reqs) > n {
			t.Fatalf("selector %q: ours counts %d requirements, apimachinery %d", s, n, len(reqs))
		}
	})
}

func TestTargetValidation(t *testing.T) {
	base := Config{Namespace: "n", WorkloadType: WorkloadPod, Protocol: ProtocolTCP, RemotePort: 80}
	tests := []struct {
		target, want string
	}{
		{"app=web", ""},
		{"app in (a,b),!canary", ""},
		{"app=", ""},
		{"app==web==x", `target: "app==web==x" is not a valid label selector: found '==', expected ',' or the end`},
		{"app>x", `target: "app>x" is not a valid label selector: app>x: the value must be an integer`},
		{"a/b/c", `target: "a/b/c" is not a valid label selector: label key "a/b/c": a label key is a name`},
		{"app=bad value", `target: "app=bad value" is not a valid label selector: found 'value', expected ',' or the end`},
	}
	for _, tt := range tests {
		c := base
		c.Target = tt.target
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("target %q: %v", tt.target, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("target %q: error %v, want it to contain %q", tt.target, err, tt.want)
		}
	}
}
