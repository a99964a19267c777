//go:build e2e

// Package webui_test drives the web UI in Debian's Chromium (headless,
// chromedp) against the kftray daemon on the dev cluster: every flow is a
// person's clicks and typing, and asserts on what the page shows. Run with
//
//	KFTRAY_DEVCLUSTER_BIN=... go test -tags e2e ./e2e/webui/
//
// KFTRAY_WEBUI_SCREENSHOTS=docs/img also writes the README's screenshots.
package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chromedp/chromedp"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/e2e/kftraytest"
	"github.com/kftray-go/kftray/internal/envknob"
	"github.com/kftray-go/kftray/localapi"
)

// TestMain: this binary, copied under the name kftray, is the kftray
// command (so the daemon it starts is this code, with the web UI).
func TestMain(m *testing.M) { os.Exit(kftraytest.Main(m)) }

const row = `document.querySelector('li.fwd[data-name="web"]')`

// TestWebUIOnTheDevCluster: in a browser, sign in with `kftray ui`'s link;
// add a config through the form (the daemon's validation next to each
// field, the cluster's contexts, namespaces, Services and ports as
// suggestions); start it and see it running on its pod; curl through it;
// delete the pod and see the replacement arrive live; stop it; export by
// download, delete, import by upload; watch the page tell that the daemon
// stopped and that a new daemon wants a new sign-in.
func TestWebUIOnTheDevCluster(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	if err := c.Deploy(ctx, ns, cluster.WebApp(1)); err != nil {
		t.Fatal(err)
	}
	pods, err := c.ReadyPods(ctx, ns, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	k, dir := kftraytest.New(t, "kfw")
	k.Run("daemon", "start")
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}

	p := newBrowser(t, "")
	link := strings.TrimSpace(k.Run("ui", "--print"))
	p.navigate(link)
	p.wait("the page live", `document.getElementById('conn').dataset.state === 'live'`)
	if loc := eval[string](p, `location.href`); loc != "http://"+st.HTTPAddr+"/ui/" {
		t.Fatalf("after login the page is at %q; want http://%s/ui/ (no token in the address)", loc, st.HTTPAddr)
	}
	if eval[bool](p, `document.cookie !== ''`) {
		t.Fatal("the session cookie is readable by scripts; it must be HttpOnly")
	}
	p.wait("the empty state", `document.querySelector('.empty:not([hidden])')?.textContent.includes('No forwards yet')`)

	// Add a forward through the form.
	p.click("#add-forward")
	p.wait("the form", `document.getElementById('config-dialog').open`)
	p.typeIn("#f-alias", "web")
	p.typeIn("#f-kubeconfig", c.Kubeconfig)
	p.wait("contexts from the kubeconfig", fmt.Sprintf(`[...document.querySelectorAll('#f-context-list option')].some(o => o.value === %s)`, js(c.Context)))
	p.typeIn("#f-context", c.Context)
	p.wait("namespaces from the cluster", fmt.Sprintf(`[...document.querySelectorAll('#f-namespace-list option')].some(o => o.value === %s)`, js(ns)))
	// Saved too early: the daemon's problems show next to their fields.
	p.click("#form-save")
	p.wait("field errors", `!document.getElementById('f-namespace-err').hidden && document.getElementById('f-namespace').getAttribute('aria-invalid') === 'true'`)
	if got := eval[string](p, `document.getElementById('f-namespace-err').textContent`); got != "required" {
		t.Fatalf("namespace error %q, want the daemon's \"required\"", got)
	}
	if got := eval[string](p, `document.getElementById('f-service-err').textContent`); !strings.Contains(got, "required for workload_type service") {
		t.Fatalf("service error %q", got)
	}
	if focused := eval[string](p, `document.activeElement.id`); focused != "f-namespace" {
		t.Fatalf("focus on %q after a refused save; want the first invalid field", focused)
	}
	p.typeIn("#f-namespace", ns)
	p.wait("Services of the namespace", `[...document.querySelectorAll('#f-service-list option')].some(o => o.value === 'web')`)
	p.wait("the namespace error gone once fixed", `document.getElementById('f-namespace-err').hidden`)
	p.typeIn("#f-service", "web")
	p.wait("the Service's ports", `[...document.querySelectorAll('#f-remote_port-list option')].map(o => o.value).join(',') === '80,9000'`)
	p.typeIn("#f-remote_port", "80")
	p.click("#form-save")
	p.wait("the dialog closed and the forward listed", `!document.getElementById('config-dialog').open && `+row+` !== null`)
	cfg, err := client.Config(ctx, "web")
	if err != nil || cfg.Namespace != ns || cfg.Service != "web" || cfg.RemotePort != 80 || cfg.Context != c.Context || cfg.Kubeconfig != c.Kubeconfig {
		t.Fatalf("stored config %+v %v; want what the form said", cfg, err)
	}
	p.wait("grouped by context, then namespace", fmt.Sprintf(`document.querySelector('details.ctx[data-context=%s] section[data-namespace=%s] li.fwd[data-name="web"]') !== null`, js(c.Context), js(ns)))

	// Start it with its switch; the page shows it running on its pod.
	p.click(`li.fwd[data-name="web"] button.switch`)
	p.wait("web running on its pod", fmt.Sprintf(`%s.dataset.status === 'running' && %s.querySelector('.pod').textContent === %s`, row, row, js("pod "+pods[0])))
	addr := eval[string](p, row+`.querySelector('.addr').textContent`)
	if got := kftraytest.Get(t, addr); got != pods[0] {
		t.Fatalf("through %s (the address the page shows) answered %q, want %s", addr, got, pods[0])
	}
	p.wait("the counters", row+`.querySelector('.counters').textContent.includes('1 conn ·')`)
	p.wait("the sparkline drawn", row+`.querySelector('.spark-line').getAttribute('d').split('L').length > 3`)

	// Screenshots for the README while it runs.
	if envknob.Get(envknob.WebUIScreenshots) != "" {
		webUIScreenshots(t, p, client, c, ns)
	}

	// The pod goes away: the page shows the replacement without a reload.
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, pods[0], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	repl, err := c.ReadyPods(ctx, ns, "web", 1, pods[0])
	if err != nil {
		t.Fatal(err)
	}
	p.wait("the replacement pod, live", fmt.Sprintf(`%s.dataset.status === 'running' && %s.querySelector('.pod').textContent === %s`, row, row, js("pod "+repl[0])))
	if got := kftraytest.Get(t, addr); got != repl[0] {
		t.Fatalf("after the pod change answered by %q, want %s", got, repl[0])
	}

	// Stop it.
	p.click(`li.fwd[data-name="web"] button.switch`)
	p.wait("web stopped", row+`.dataset.status === 'stopped' && `+row+`.querySelector('button.switch').getAttribute('aria-checked') === 'false'`)
	if f, err := client.Forward(ctx, "web"); err != nil || f.Status != localapi.StatusStopped || f.Desired {
		t.Fatalf("after the page stopped it: %+v %v", f, err)
	}

	// Export by download.
	dl := t.TempDir()
	p.downloadsTo(dl)
	p.click("#export")
	exported := filepath.Join(dl, "kftray-configs.json")
	var data []byte
	kftraytest.Poll(t, "the download at "+exported, func() (bool, string) {
		data, err = os.ReadFile(exported)
		return err == nil && json.Valid(data), fmt.Sprint(err)
	})
	var entries []map[string]any
	if err := json.Unmarshal(data, &entries); err != nil || len(entries) != 1 || entries[0]["alias"] != "web" || entries[0]["namespace"] != ns {
		t.Fatalf("exported %s: %v; want the one config web", data, err)
	}

	// Delete it through its menu (confirmed in a dialog).
	p.click(`li.fwd[data-name="web"] details.menu > summary`)
	p.click(`li.fwd[data-name="web"] .m-delete`)
	p.wait("the confirm dialog", `document.getElementById('confirm-dialog').open && document.activeElement.id === 'confirm-cancel'`)
	p.click("#confirm-ok")
	p.wait("the forward gone", row+` === null && document.querySelector('.empty:not([hidden])') !== null`)
	if fs, err := client.Forwards(ctx); err != nil || len(fs) != 0 {
		t.Fatalf("after delete: %+v %v", fs, err)
	}

	// Import the exported file by upload.
	p.do("upload", chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{exported}, chromedp.NodeReady))
	p.wait("imported", row+` !== null && [...document.querySelectorAll('.toast')].some(t => t.textContent.includes('1 added'))`)
	if cfg, err := client.Config(ctx, "web"); err != nil || cfg.Namespace != ns || cfg.RemotePort != 80 {
		t.Fatalf("re-imported config %+v %v", cfg, err)
	}

	// Multi-select: select all shown, start the selection; restart from
	// the menu; stop all.
	p.click("#select-all")
	p.wait("the selection bar", `!document.querySelector('.selbar').hidden && document.getElementById('sel-count').textContent === '1 selected' && `+row+`.querySelector('input.sel').checked`)
	p.click("#sel-start")
	p.wait("started from the selection", row+`.dataset.status === 'running' && `+row+`.querySelector('.pod').textContent.startsWith('pod ')`)
	p.click("#sel-clear")
	p.wait("the selection cleared", `document.querySelector('.selbar').hidden && !`+row+`.querySelector('input.sel').checked`)
	before, err := client.Forward(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	p.click(`li.fwd[data-name="web"] details.menu > summary`)
	p.click(`li.fwd[data-name="web"] .m-restart`)
	kftraytest.WaitForward(t, client, "web", "web restarted", func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.Since.After(before.Since)
	})
	p.wait("running after the restart", row+`.dataset.status === 'running'`)
	p.click("#stop-all")
	p.wait("stopped by stop all", row+`.dataset.status === 'stopped'`)

	// The daemon stops: the page says so, and how to come back (a new
	// daemon has a new port and new sessions).
	k.Run("daemon", "stop")
	p.wait("the daemon-stopped banner", `['stopping', 'down'].includes(document.getElementById('conn').dataset.state) && !document.getElementById('banner').hidden && document.getElementById('banner').textContent.includes('kftray daemon start') && document.getElementById('banner').textContent.includes('kftray ui')`)
	k.Run("daemon", "start")
	p.navigate(strings.TrimSpace(k.Run("ui", "--print")))
	p.wait("signed in again", `document.getElementById('conn').dataset.state === 'live' && `+row+` !== null`)

	// A session the daemon no longer knows: the page asks for a new sign-in.
	if err := p.logoutElsewhere(); err != nil {
		t.Fatal(err)
	}
	p.navigate(strings.Split(eval[string](p, `location.href`), "#")[0])
	p.wait("a new sign-in asked for", `document.getElementById('conn').dataset.state === 'unauthorized' && document.getElementById('banner').textContent.includes('kftray ui') && document.querySelector('.empty:not([hidden])')?.textContent.includes('Not signed in')`)
}

// webUIScreenshots writes the main views, light and dark, wide and at
// kftray's window size (450×500).
func webUIScreenshots(t *testing.T, p *page, client *localapi.Client, c *cluster.Cluster, ns string) {
	ctx := context.Background()
	// A second context group and a failing forward make the list tell more.
	for _, cfg := range []string{
		fmt.Sprintf(`{"alias":"db","namespace":%s,"service":"postgres","remote_port":5432,"local_port":15432,"workload_type":"service","kubeconfig":%s,"context":%s}`, js(ns), js(c.Kubeconfig), js(c.Context)),
		`{"alias":"api.staging.test","namespace":"staging","service":"api","remote_port":80,"workload_type":"service","context":"staging","domain_enabled":true}`,
	} {
		if _, err := client.ImportConfigs(ctx, []byte(cfg)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Start(ctx, localapi.Selection{Refs: []string{"db"}}); err != nil {
		t.Fatal(err)
	}
	p.do("reload", chromedp.Reload())
	p.wait("three forwards", `document.querySelectorAll('li.fwd').length === 3 && document.querySelector('li.fwd[data-name="db"]').dataset.status !== 'stopped'`)
	// Some traffic for the sparkline, until it has drawn a while of it.
	addr := eval[string](p, row+`.querySelector('.addr').textContent`)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if i%100 < 50 { // bursts of 2.5 s, so the line has a shape
				if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
					fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
					_, _ = io.Copy(io.Discard, conn)
					conn.Close()
				}
			}
		}
	}()
	p.wait("a minute's sparkline", row+`.querySelector('.spark-line').getAttribute('d').split('L').length > 25`)
	close(stop)
	<-done
	p.screenshots("forwards", 1100, 640)
	p.screenshots("forwards-narrow", 450, 500)
	p.click(`li.fwd[data-name="web"] details.menu > summary`)
	p.click(`li.fwd[data-name="web"] .m-edit`)
	p.wait("the edit form with suggestions", `document.getElementById('config-dialog').open && document.querySelectorAll('#f-service-list option').length > 0`)
	p.screenshots("edit", 1100, 760)
	p.do("close the form", chromedp.Click(chromedp.CSS("#form-cancel")))
	p.navigate(strings.Split(eval[string](p, `location.href`), "#")[0] + "#/log")
	p.wait("log lines", `document.querySelectorAll('#log-lines li').length >= 3`)
	p.screenshots("daemon-log", 1100, 640)
	p.navigate(strings.Split(eval[string](p, `location.href`), "#")[0] + "#/helper")
	p.wait("helper status", `document.querySelector('dl.facts') !== null`)
	p.screenshots("helper", 1100, 520)
	p.navigate(strings.Split(eval[string](p, `location.href`), "#")[0] + "#/settings")
	p.wait("settings", `document.querySelector('#settings [data-setting]') !== null`)
	p.screenshots("settings", 1100, 420)
	p.navigate(strings.Split(eval[string](p, `location.href`), "#")[0] + "#/forwards")
	p.wait("the list again", row+` !== null`)
	if _, err := client.Stop(ctx, localapi.Selection{Refs: []string{"db"}}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"db", "api.staging.test"} {
		if _, err := client.DeleteConfig(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	p.wait("back to one forward", `document.querySelectorAll('li.fwd').length === 1`)
}

// TestWebUIHostilePages: the browser holds a kftray session; pages from
// another port of 127.0.0.1 (the same "site", so the SameSite cookie goes
// along) and a DNS-rebinding name try to use it. Nothing gets through.
func TestWebUIHostilePages(t *testing.T) {
	k, dir := kftraytest.New(t, "kfw")
	k.Run("config", "add", "--name", "web", "-n", "default", "--service", "web", "--remote-port", "80")
	k.Run("daemon", "start")
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()
	ctx := context.Background()
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(st.HTTPAddr)
	api := "http://" + st.HTTPAddr

	p := newBrowser(t, "MAP rebind.test 127.0.0.1")
	p.navigate(strings.TrimSpace(k.Run("ui", "--print")))
	p.wait("signed in", `document.getElementById('conn').dataset.state === 'live'`)

	// The attacker's page, on another port of 127.0.0.1.
	var cookieSeen bool
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Browsers do not separate cookies by port: the session cookie
		// comes here too (the residual risk docs/api.md names).
		if _, err := r.Cookie("kftray_session_" + port); err == nil {
			cookieSeen = true
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, attackPage, api, api)
	}))
	defer attacker.Close()
	p.navigate(attacker.URL)
	p.wait("the attacks done", `window.results && window.results.done`)
	res := eval[map[string]string](p, `window.results`)
	t.Logf("attacks from %s: %v (session cookie sent to the attacker's port: %v)", attacker.URL, res, cookieSeen)
	if res["read"] != "blocked" || res["preflight"] != "blocked" {
		t.Fatalf("attack results %v; want the read and the preflighted start blocked by the browser", res)
	}
	// The simple (no-cors) POST is sent, cookie and all; the browser hides
	// the answer (Cross-Origin-Resource-Policy makes it a network error).
	// The daemon must have refused it: its log says so. So must a form
	// posted to it, whose answer the browser shows.
	p.do("post the form", chromedp.Evaluate[chromedp.Void](`document.getElementById('f').submit()`))
	p.wait("the daemon's answer to the form", `location.href.includes('/v1/forwards/start') && document.body.innerText.includes('cross-origin request from')`)
	lines, err := client.DaemonLog(ctx, localapi.LogQuery{Level: "warn", Tail: 100})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, l := range lines {
		if l.Message == "api: refusing a cross-origin request" && l.Fields["method"] == "POST" && l.Fields["path"] == "/v1/forwards/start" && l.Fields["origin"] == attacker.URL {
			refused++
		}
	}
	if refused != 2 {
		t.Fatalf("the daemon logged %d refused starts from %s; want 2 POSTs (the no-cors fetch and the form):\n%+v", refused, attacker.URL, lines)
	}
	if f, err := client.Forward(ctx, "web"); err != nil || f.Desired || f.Status != localapi.StatusStopped {
		t.Fatalf("after the attacks web is %+v (%v); want stopped and not desired", f, err)
	}

	// DNS rebinding: a name of the attacker's that resolves to 127.0.0.1.
	for _, path := range []string{"/ui/", "/v1/forwards"} {
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse("http://rebind.test:"+port+path))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusForbidden {
			t.Fatalf("http://rebind.test:%s%s answered %d, want 403", port, path, resp.Status)
		}
	}
	p.wait("the refusal shown", `document.body.innerText.includes('is not a loopback address')`)

	// The page itself can still start it.
	p.navigate(api + "/ui/")
	p.wait("live again", `document.getElementById('conn').dataset.state === 'live' && `+row+` !== null`)
	p.click(`li.fwd[data-name="web"] button.switch`)
	p.wait("the start went through", row+`.dataset.status !== 'stopped'`)
	if f, err := client.Forward(ctx, "web"); err != nil || !f.Desired {
		t.Fatalf("the page's own start: %+v %v", f, err)
	}
}

// attackPage tries to read the API and to start a forward with the
// victim's cookie, three ways; window.results says what the browser let
// through.
const attackPage = `<!doctype html><html><body>
<form id="f" method="POST" action="%s/v1/forwards/start" enctype="text/plain"><input name='{"refs":["web"],"x":"' value='"}'></form>
<script>
const api = %q;
window.results = {};
(async () => {
  try { await fetch(api + '/v1/forwards/start', {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: '{"refs":["web"]}'}); results.nocors = 'sent'; }
  catch (e) { results.nocors = 'error ' + e; }
  try { const r = await fetch(api + '/v1/forwards/start', {method: 'POST', credentials: 'include', headers: {'X-Kftray': '1', 'Content-Type': 'application/json'}, body: '{"refs":["web"]}'}); results.preflight = 'status ' + r.status; }
  catch (e) { results.preflight = 'blocked'; }
  try { const r = await fetch(api + '/v1/forwards', {credentials: 'include'}); results.read = 'status ' + r.status + ' ' + (await r.text()).slice(0, 80); }
  catch (e) { results.read = 'blocked'; }
  results.done = 'yes';
})();
</script></body></html>`

// TestWebUIViewsAndPickerFallbacks: the daemon log (its tail, then new
// lines as they come), the helper's install command, a setting changed
// from the page; the keyboard alone opens the form; a context that RBAC
// forbids to list namespaces, and a cluster that does not answer, leave
// the fields to type, saying why.
func TestWebUIViewsAndPickerFallbacks(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	k, dir := kftraytest.New(t, "kfw")
	// A hostname needs the helper, which is not installed here.
	k.Run("config", "add", "--name", "api.dev.test", "--domain-enabled", "-n", ns, "--service", "api", "--remote-port", "80")
	k.Run("daemon", "start")
	client := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer client.Close()
	base := "http://" + func() string { st, _ := client.Status(ctx); return st.HTTPAddr }()

	p := newBrowser(t, "")
	p.navigate(strings.TrimSpace(k.Run("ui", "--print")))
	p.wait("live", `document.getElementById('conn').dataset.state === 'live'`)

	// Daemon log: the tail, then a line written after the page opened.
	p.navigate(base + "/ui/#/log")
	p.wait("the log's tail", `[...document.querySelectorAll('#log-lines li .msg')].some(m => m.textContent === 'daemon started')`)
	if _, err := client.CreateConfig(ctx, fwdconfigWeb(ns)); err != nil {
		t.Fatal(err)
	}
	p.wait("a new line, followed", `[...document.querySelectorAll('#log-lines li .msg')].some(m => m.textContent === 'config added through the API')`)

	// Helper: who needs it and the command to type.
	p.navigate(base + "/ui/#/helper")
	p.wait("the install command", `document.getElementById('install-command')?.textContent === 'sudo kftray helper install' && document.querySelector('[data-fact="Needed by"]').textContent.includes('api.dev.test')`)

	// Settings: a switch the daemon stores.
	p.navigate(base + "/ui/#/settings")
	p.click("#s-http_logs_default_enabled")
	kftraytest.Poll(t, "the setting the page switched on", func() (bool, string) {
		m, err := client.Settings(ctx)
		return err == nil && m["http_logs_default_enabled"] == "true", fmt.Sprintf("%v %v", m, err)
	})

	// Keyboard: "n" opens the form, focused on its first field, which
	// starts with the setting just changed; Escape closes it.
	p.navigate(base + "/ui/#/forwards")
	p.wait("the list", `document.querySelectorAll('li.fwd').length === 2`)
	p.do("press n", chromedp.KeyEvent("n"))
	p.wait("the form, focused", `document.getElementById('config-dialog').open && document.activeElement.id === 'f-alias' && document.getElementById('f-http_logs_enabled').checked`)

	// 403: the context may not list namespaces; the field stays typable.
	// A service account the cluster's RBAC lets list Services and pods in
	// ns only (not namespaces).
	limited := c.LimitedKubeconfig(t, ns, "webui-limited", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"services", "pods"}, Verbs: []string{"list", "get"}}})
	p.typeIn("#f-kubeconfig", limited)
	p.wait("namespaces refused", `document.getElementById('f-namespace-status').textContent.startsWith('Not allowed to list namespaces: type it.')`)
	p.typeIn("#f-namespace", ns)
	p.wait("Services of a namespace it may list", `document.getElementById('f-service-status').textContent.includes('in the cluster') || document.getElementById('f-service-status').textContent.startsWith('No Services found')`)

	// A cluster that does not answer.
	dead := deadKubeconfig(t)
	p.do("clear", chromedp.Evaluate[chromedp.Void](`document.getElementById('f-kubeconfig').value = ''`))
	p.typeIn("#f-kubeconfig", dead)
	p.wait("cluster unreachable", `document.getElementById('f-namespace-status').textContent.startsWith('Cluster unreachable: type it.')`)
	p.do("escape", chromedp.KeyEvent("\x1b"))
	p.wait("the form closed", `!document.getElementById('config-dialog').open`)
}
