package daemon

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/ui/web"
)

// browserClient never follows redirects, so tests see what the server said.
var browserClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// uiDaemon runs a daemon serving the web UI on 127.0.0.1 and returns its
// unix client, TCP address and a browser session cookie obtained the way
// a browser does: a login link minted over the unix socket, exchanged once.
func uiDaemon(t *testing.T) (*localapi.Client, string, *http.Cookie) {
	t.Helper()
	dir := shortDir(t)
	c, st := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine(), HTTPAddr: DefaultHTTPAddr, UI: web.Handler()})
	addWeb(t, dir)
	link, err := c.UILogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := browserClient.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 1 {
		t.Fatalf("login answered %d with cookies %v; want one session cookie", resp.StatusCode, resp.Cookies())
	}
	return c, st.HTTPAddr, resp.Cookies()[0]
}

type browserReq struct {
	method, path, body string
	host               string // default: the daemon's address
	origin             string // "self": the daemon's own origin
	site               string // Sec-Fetch-Site
	mode               string // Sec-Fetch-Mode
	csrf               bool   // X-Kftray: 1
	cookie             *http.Cookie
	bearer             string
	contentType        string
}

func (b browserReq) do(t *testing.T, addr string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(b.method, "http://"+addr+b.path, strings.NewReader(b.body))
	if err != nil {
		t.Fatal(err)
	}
	if b.host != "" {
		req.Host = b.host
	}
	switch b.origin {
	case "":
	case "self":
		req.Header.Set("Origin", "http://"+addr)
	default:
		req.Header.Set("Origin", b.origin)
	}
	if b.site != "" {
		req.Header.Set("Sec-Fetch-Site", b.site)
	}
	if b.mode != "" {
		req.Header.Set("Sec-Fetch-Mode", b.mode)
	}
	if b.csrf {
		req.Header.Set(httpapi.CSRFHeader, "1")
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	if b.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+b.bearer)
	}
	ct := b.contentType
	if ct == "" && b.body != "" {
		ct = "application/json"
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := browserClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestWebUILoginLink: a login link works once; the session cookie is
// HttpOnly, SameSite=Strict, Path=/; the redirect carries no token; a
// browser session cannot mint links; logging out ends the session.
func TestWebUILoginLink(t *testing.T) {
	c, addr, cookie := uiDaemon(t)
	ctx := context.Background()
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Secure || cookie.MaxAge != 0 {
		t.Fatalf("session cookie %+v; want HttpOnly, SameSite=Strict, Path=/", cookie)
	}

	link, err := c.UILogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link.URL)
	if err != nil || u.Host != addr || u.Path != "/ui/login" || len(u.Query().Get("token")) < 40 {
		t.Fatalf("login link %q; want http://%s/ui/login?token=...", link.URL, addr)
	}
	first := browserReq{method: "GET", path: u.RequestURI(), site: "none", mode: "navigate"}.do(t, addr)
	first.Body.Close()
	if loc := first.Header.Get("Location"); first.StatusCode != http.StatusSeeOther || loc != "/ui/" || first.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("first use: %d to %q (Cache-Control %q); want 303 to /ui/, no-store", first.StatusCode, loc, first.Header.Get("Cache-Control"))
	}
	again := browserReq{method: "GET", path: u.RequestURI(), site: "none", mode: "navigate"}.do(t, addr)
	body, _ := io.ReadAll(again.Body)
	again.Body.Close()
	if again.StatusCode != http.StatusUnauthorized || len(again.Cookies()) != 0 || !strings.Contains(string(body), "kftray ui") {
		t.Fatalf("reused login link: %d, cookies %v, %q; want 401, no cookie, and what to do", again.StatusCode, again.Cookies(), body)
	}
	for _, tok := range []string{"", "nope", strings.Repeat("A", 43)} {
		r := browserReq{method: "GET", path: "/ui/login?token=" + tok}.do(t, addr)
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
			t.Errorf("login with token %q: %d %v; want 401 and no cookie", tok, r.StatusCode, r.Cookies())
		}
	}

	// A browser session may not mint login links (only the socket or
	// the bearer token).
	r := browserReq{method: "POST", path: "/v1/ui/login", body: "{}", origin: "self", site: "same-origin", csrf: true, cookie: cookie}.do(t, addr)
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("login link minted by a browser session: %d, want 403", r.StatusCode)
	}
	_, token, err := localapi.PathsIn(configDir(t, c)).ReadHTTP()
	if err != nil {
		t.Fatal(err)
	}
	tc := localapi.NewTCPClient(addr, token)
	defer tc.Close()
	if _, err := tc.UILogin(ctx); err != nil {
		t.Fatalf("login link with the bearer token: %v", err)
	}

	// Logging out ends the session.
	out := browserReq{method: "POST", path: "/v1/ui/logout", body: "{}", origin: "self", site: "same-origin", csrf: true, cookie: cookie}.do(t, addr)
	out.Body.Close()
	if out.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", out.StatusCode)
	}
	after := browserReq{method: "GET", path: "/v1/forwards", site: "same-origin", cookie: cookie}.do(t, addr)
	after.Body.Close()
	if after.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after logout: %d, want 401", after.StatusCode)
	}
}

func configDir(t *testing.T, c *localapi.Client) string {
	t.Helper()
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.ConfigDir
}

// TestWebUIRefusesOtherOriginsAndHosts: what a hostile page can try against
// the daemon's loopback listener, and that only the UI's own calls pass.
func TestWebUIRefusesOtherOriginsAndHosts(t *testing.T) {
	c, addr, cookie := uiDaemon(t)
	ctx := context.Background()
	_, port, _ := strings.Cut(addr, ":")
	otherPort := "http://127.0.0.1:1" + port // another port of this host: the same site to a browser
	start := `{"refs":["web"]}`

	for _, tc := range []struct {
		name string
		req  browserReq
		want int
	}{
		// The UI's own calls.
		{"list with the cookie", browserReq{method: "GET", path: "/v1/forwards", site: "same-origin", cookie: cookie}, 200},
		{"event stream with the cookie", browserReq{method: "HEAD", path: "/v1/status", site: "same-origin", cookie: cookie}, 200},
		{"UI page", browserReq{method: "GET", path: "/ui/", site: "none", mode: "navigate"}, 200},
		{"UI script", browserReq{method: "GET", path: "/ui/js/main.js", site: "same-origin", mode: "cors"}, 200},
		{"/ redirects to the UI", browserReq{method: "GET", path: "/", site: "none", mode: "navigate"}, 303},
		// A link from another site may open the page (it shows nothing
		// without the cookie and cannot be framed)...
		{"navigation from another site", browserReq{method: "GET", path: "/ui/", site: "cross-site", mode: "navigate"}, 200},
		// ... but not load its files or call the API.
		{"script from another site", browserReq{method: "GET", path: "/ui/js/main.js", site: "cross-site", mode: "no-cors"}, 403},
		{"API read from another port", browserReq{method: "GET", path: "/v1/forwards", site: "same-site", mode: "cors", origin: otherPort, cookie: cookie}, 403},
		{"navigation to the API from another site", browserReq{method: "GET", path: "/v1/configs/export", site: "cross-site", mode: "navigate", cookie: cookie}, 403},

		// Without a session.
		{"no cookie", browserReq{method: "GET", path: "/v1/forwards", site: "same-origin"}, 401},
		{"unknown cookie", browserReq{method: "GET", path: "/v1/forwards", site: "same-origin", cookie: &http.Cookie{Name: cookie.Name, Value: "forged"}}, 401},
		{"start without a cookie", browserReq{method: "POST", path: "/v1/forwards/start", body: start, origin: "self", site: "same-origin", csrf: true}, 401},

		// State changes need the cookie, this Origin and X-Kftray: 1.
		{"start from another port", browserReq{method: "POST", path: "/v1/forwards/start", body: start, origin: otherPort, site: "same-site", csrf: true, cookie: cookie}, 403},
		{"start from another site", browserReq{method: "POST", path: "/v1/forwards/start", body: start, origin: "https://evil.example", site: "cross-site", cookie: cookie}, 403},
		{"form post from another port", browserReq{method: "POST", path: "/v1/forwards/start", body: "refs=web", contentType: "application/x-www-form-urlencoded", origin: otherPort, cookie: cookie}, 403},
		{"start with an opaque origin", browserReq{method: "POST", path: "/v1/forwards/start", body: start, origin: "null", csrf: true, cookie: cookie}, 403},
		{"start without X-Kftray", browserReq{method: "POST", path: "/v1/forwards/start", body: start, origin: "self", site: "same-origin", cookie: cookie}, 403},
		{"start without Origin", browserReq{method: "POST", path: "/v1/forwards/start", body: start, csrf: true, cookie: cookie}, 403},
		{"preflight from another port", browserReq{method: "OPTIONS", path: "/v1/forwards/start", origin: otherPort, site: "same-site", cookie: cookie}, 403},
		{"delete from another port", browserReq{method: "DELETE", path: "/v1/configs/web", origin: otherPort, csrf: true, cookie: cookie}, 403},
		{"UI files are read only", browserReq{method: "POST", path: "/ui/index.html", origin: "self", csrf: true, cookie: cookie}, 405},

		// DNS rebinding: a name that resolves to 127.0.0.1.
		{"rebinding Host, API", browserReq{method: "GET", path: "/v1/forwards", host: "evil.example:" + port, cookie: cookie}, 403},
		{"rebinding Host, UI page", browserReq{method: "GET", path: "/ui/", host: "evil.example:" + port, site: "none", mode: "navigate"}, 403},
		{"rebinding Host, login", browserReq{method: "GET", path: "/ui/login?token=x", host: "evil.example:" + port}, 403},
		{"rebinding Host, start", browserReq{method: "POST", path: "/v1/forwards/start", body: start, host: "evil.example:" + port, origin: "http://evil.example:" + port, site: "same-origin", csrf: true, cookie: cookie}, 403},
	} {
		resp := tc.req.do(t, addr)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s: CORS header %s: %s", tc.name, k, resp.Header.Get(k))
			}
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != httpapi.ContentSecurityPolicy {
			t.Errorf("%s: Content-Security-Policy %q", tc.name, got)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: framing/sniffing headers missing: %v", tc.name, resp.Header)
		}
	}
	if f, err := c.Forward(ctx, "web"); err != nil || f.Status != localapi.StatusStopped || f.Desired {
		t.Fatalf("after the refused requests web is %+v (%v); want stopped and not desired", f, err)
	}

	// The page's own call starts it.
	resp := browserReq{method: "POST", path: "/v1/forwards/start", body: start, origin: "self", site: "same-origin", csrf: true, cookie: cookie}.do(t, addr)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start from the page: %d", resp.StatusCode)
	}
	waitForward(t, c, "web", "web running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
}

// TestBearerAPIStillWorksBesideTheUI: the CLI's TCP clients are unchanged;
// a bearer request from a foreign origin is refused all the same.
func TestBearerAPIStillWorksBesideTheUI(t *testing.T) {
	c, addr, _ := uiDaemon(t)
	_, token, err := localapi.PathsIn(configDir(t, c)).ReadHTTP()
	if err != nil {
		t.Fatal(err)
	}
	tc := localapi.NewTCPClient(addr, token)
	defer tc.Close()
	if _, err := tc.Start(context.Background(), localapi.Selection{Refs: []string{"web"}}); err != nil {
		t.Fatalf("start with the bearer token: %v", err)
	}
	for _, r := range []struct {
		name string
		req  browserReq
		want int
	}{
		{"bearer", browserReq{method: "GET", path: "/v1/status", bearer: token}, 200},
		{"wrong bearer", browserReq{method: "GET", path: "/v1/status", bearer: strings.Repeat("0", len(token))}, 401},
		{"bearer from another origin", browserReq{method: "POST", path: "/v1/forwards/stop", body: `{"all":true}`, bearer: token, origin: "http://127.0.0.1:1"}, 403},
		{"token in the URL is not accepted", browserReq{method: "GET", path: "/v1/events?access_token=" + token}, 401},
	} {
		resp := r.req.do(t, addr)
		resp.Body.Close()
		if resp.StatusCode != r.want {
			t.Errorf("%s: %d, want %d", r.name, resp.StatusCode, r.want)
		}
	}
}

// TestUILoginWithoutHTTP: a daemon started with --no-http says how to get
// its web UI.
func TestUILoginWithoutHTTP(t *testing.T) {
	c, _ := runDaemon(t, Options{Dir: shortDir(t), Engine: testWorld(t).engine(), UI: web.Handler()})
	_, err := c.UILogin(context.Background())
	if statusCode(err) != http.StatusConflict || !strings.Contains(err.Error(), "--no-http") {
		t.Fatalf("login link without HTTP: %v; want 409 naming --no-http", err)
	}
}
