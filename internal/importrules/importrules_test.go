package importrules

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/kftray-go/kftray/"

// rule: the module's packages matching from (a path, or a prefix ending
// in "/"; "" matches all) but not except must not link, directly or not, a
// module package matching deny unless it matches allow.
// docs/architecture.md explains each.
type rule struct {
	why    string
	from   []string
	except []string
	deny   []string
	allow  []string
}

var rules = []rule{
	{
		why:  "ipc/ is the contract between forwarder and helper: it never imports either side",
		from: []string{"ipc", "ipc/"},
		deny: []string{""}, allow: []string{"ipc", "ipc/", "internal/envknob", "internal/buildinfo"},
	},
	{
		why:  "the config model and the relay's wire format are leaves",
		from: []string{"fwdconfig", "relaywire"},
		deny: []string{""},
	},
	{
		why:  "localapi is what every interface imports: the config model and nothing else of ours",
		from: []string{"localapi"},
		deny: []string{""}, allow: []string{"fwdconfig"},
	},
	{
		why:  "the store keeps configs and state; it knows the model, not the engine or the API",
		from: []string{"store"},
		deny: []string{""}, allow: []string{"fwdconfig"},
	},
	{
		why:  "the root helper links none of the user-side engine",
		from: []string{"helper/", "cmd/kftray-helper"},
		deny: []string{"forwarder", "store", "localapi", "relayserver", "internal/cli"},
	},
	{
		why:  "the in-cluster relay links none of the user side",
		from: []string{"relayserver", "cmd/kftray-server"},
		deny: []string{"forwarder", "store", "localapi", "helper", "ipc", "internal/cli"},
	},
	{
		why:    "the engine does not know its clients: only the daemon and its API server speak localapi",
		from:   []string{"forwarder", "forwarder/"},
		except: []string{"forwarder/daemon", "forwarder/daemon/", "forwarder/httpapi"},
		deny:   []string{"localapi", "internal/cli", "cmd/", "helper/"},
	},
	{
		why:  "the interfaces (kftui) are clients of the daemon's local API only",
		from: []string{"ui/", "cmd/kftui"},
		deny: []string{"forwarder", "forwarder/", "store", "helper/", "ipc", "ipc/", "internal/cli", "internal/cli/"},
	},
	{
		why:  "the MCP server is a client of the daemon's local API only",
		from: []string{"ui/mcpserver"},
		deny: []string{""}, allow: []string{"localapi", "fwdconfig"},
	},
	{
		why:  "the tray is a client of the daemon's local API only",
		from: []string{"ui/tray"},
		deny: []string{""}, allow: []string{"localapi", "fwdconfig", "internal/envknob"},
	},
	{
		why:  "the web UI is static files: it imports nothing of ours (the daemon serves it)",
		from: []string{"ui/web"},
		deny: []string{""},
	},
	{
		why:  "nothing imports the CLI but its main",
		from: []string{""}, except: []string{"cmd/kftray", "internal/cli", "internal/cli/"},
		deny: []string{"internal/cli", "internal/cli/"},
	},
}

func matches(pkg string, pats []string) bool {
	for _, p := range pats {
		if p == "" || pkg == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(pkg, p)) {
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := map[int]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, ok := strings.CutPrefix(f[0], mod)
		if !ok {
			continue
		}
		for i, r := range rules {
			if !matches(pkg, r.from) || matches(pkg, r.except) {
				continue
			}
			checked[i]++
			for _, d := range f[1:] {
				dep, ours := strings.CutPrefix(d, mod)
				if !ours || dep == pkg {
					continue
				}
				if matches(dep, r.deny) && !matches(dep, r.allow) {
					t.Errorf("%s links %s: %s", pkg, dep, r.why)
				}
			}
		}
	}
	for i, r := range rules {
		if checked[i] == 0 {
			t.Errorf("rule %q matched no package; fix its paths", r.why)
		}
	}
}
