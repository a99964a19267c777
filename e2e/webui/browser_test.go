//go:build e2e

package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/envknob"
)

// chromium is Debian's browser (apt-get install chromium); .ci/run
// installs it.
const chromium = "/usr/bin/chromium"

// page drives one tab of a headless Chromium with a fresh profile.
type page struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts Chromium headless (no sandbox: tests run as root) with
// a fresh user-data-dir; hostRules maps names to addresses (DNS rebinding).
func newBrowser(t *testing.T, hostRules string) *page {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if envknob.Get(envknob.CI) == "true" {
			t.Fatalf("no browser: %v (apt-get install chromium)", err)
		}
		t.Skipf("no browser: %v (apt-get install chromium)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 760),
	)
	if hostRules != "" {
		opts = append(opts, chromedp.Flag("host-resolver-rules", hostRules))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chromium, err)
	}
	p := &page{t: t, ctx: ctx}
	// The page's own errors are test failures.
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() {
				t.Errorf("page exception: %s", m)
			}
		}
	}()
	return p
}

func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\npage:\n%s", what, err, p.text())
	}
}

// text is what the page shows, for failure messages.
func (p *page) text() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(s) > 3000 {
		s = s[:3000] + "…"
	}
	return s
}

// wait polls a JavaScript condition until it holds (60 s at most).
func (p *page) wait(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithDeadline(p.ctx, deadline.Add(5*time.Second))
		_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+cond+")", chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			return
		}
		// A navigation while polling (a form post, a reload) ends the
		// poll's JavaScript context: poll again in the new page.
		if time.Now().Before(deadline) && (strings.Contains(err.Error(), "navigated or closed") || strings.Contains(err.Error(), "context was destroyed") || strings.Contains(err.Error(), "Cannot find context")) {
			continue
		}
		p.t.Fatalf("gave up waiting for %s (%s): %v\npage:\n%s", what, cond, err, p.text())
	}
}

func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func (p *page) click(sel string) {
	p.t.Helper()
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// typeIn types text into a field and leaves it with Tab, as a person does
// (the form reacts to "change").
func (p *page) typeIn(sel, text string) {
	p.t.Helper()
	p.do("type into "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible), chromedp.SendKeys(chromedp.CSS(sel), text+"\t"))
}

func (p *page) navigate(url string) {
	p.t.Helper()
	p.do("open "+url, chromedp.Navigate(url))
}

// js quotes a Go string for JavaScript.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// screenshots writes PNGs of the page in light and dark into the
// directory $KFTRAY_WEBUI_SCREENSHOTS names (nothing when it is unset, so
// CI leaves the tree clean).
func (p *page) screenshots(name string, w, h int64) {
	p.t.Helper()
	dir := envknob.Get(envknob.WebUIScreenshots)
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repoRoot(p.t), dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	for _, scheme := range []string{"light", "dark"} {
		p.do("screenshot "+name, chromedp.EmulateViewport(w, h),
			chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
					Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
				return err
			}),
			// Two frames: the new colours and layout are painted.
			chromedp.Evaluate[chromedp.Void](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`, chromedp.EvalAwaitPromise))
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			p.t.Fatalf("screenshot %s: %v", name, err)
		}
		f := filepath.Join(dir, fmt.Sprintf("webui-%s-%s.png", name, scheme))
		if err := os.WriteFile(f, buf, 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.t.Logf("wrote %s", f)
	}
	p.do("reset the viewport", chromedp.ResetViewport(), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		return err
	}))
}

func repoRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// downloadsTo makes the browser save downloads in dir.
func (p *page) downloadsTo(dir string) {
	p.t.Helper()
	if _, err := chromedp.CallBrowser(p.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		p.t.Fatal(err)
	}
}

// logoutElsewhere ends the page's session from the page (as another tab
// of the same browser would), leaving the page as it is.
func (p *page) logoutElsewhere() error {
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch('/v1/ui/logout', {method: 'POST', headers: {'X-Kftray': '1'}}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err == nil && status != 204 {
		err = fmt.Errorf("logout answered %d", status)
	}
	return err
}

func fwdconfigWeb(ns string) fwdconfig.Config {
	return fwdconfig.Config{Alias: "web", Namespace: ns, WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80, HTTPLogsAutoCleanup: true}
}

// deadKubeconfig points at a port where nothing listens.
func deadKubeconfig(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["dead"] = &clientcmdapi.Cluster{Server: "https://" + addr, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["dead"] = &clientcmdapi.AuthInfo{Token: "x"}
	cfg.Contexts["dead"] = &clientcmdapi.Context{Cluster: "dead", AuthInfo: "dead"}
	cfg.CurrentContext = "dead"
	p := filepath.Join(t.TempDir(), "dead-kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}
