package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kftray-go/kftray/localapi"
)

// The browser side of the TCP listener: the web UI's pages under /ui/ and
// cookie sessions for its calls to /v1/. A browser is hostile ground, so:
//
//   - a session starts only from a single-use login token that a caller
//     of the unix socket or of the bearer-token API mints (POST
//     /v1/ui/login, what `kftray ui` does); /ui/login exchanges it for an
//     HttpOnly, SameSite=Strict cookie and redirects to a URL without it;
//   - every request must name a loopback Host (no DNS rebinding), carry no
//     Origin but this one and no Sec-Fetch-Site but same-origin or none
//     (no other site, nor another port of 127.0.0.1, which browsers count
//     as the same site and send our cookie to);
//   - a state-changing call with the cookie must also carry Origin (this
//     origin) and the header X-Kftray: 1, which no form can send and which
//     makes a cross-origin fetch preflight, which is never answered with
//     CORS headers;
//   - every answer forbids framing, sniffing and referrers, and pages get
//     a strict Content-Security-Policy (no inline script).

// Browser session parameters.
const (
	// LoginTokenTTL is how long a login link works (once).
	LoginTokenTTL = 2 * time.Minute
	// SessionIdle ends a session nobody used for that long; SessionMax
	// ends any session.
	SessionIdle = 12 * time.Hour
	SessionMax  = 7 * 24 * time.Hour
	// Bounds on what a flood of logins can make the daemon remember.
	maxLoginTokens = 16
	maxSessions    = 64

	// CSRFHeader must be on every state-changing call a browser session
	// makes; a custom header cannot be sent cross-origin without a CORS
	// preflight, which this server never grants.
	CSRFHeader = "X-Kftray"

	// ContentSecurityPolicy is sent with every answer on TCP.
	ContentSecurityPolicy = "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

// sessions holds the login tokens and browser sessions, by the SHA-256 of
// their secret, in memory: a daemon restart ends every session.
type sessions struct {
	now func() time.Time

	mu     sync.Mutex
	logins map[string]time.Time // token hash -> expiry
	live   map[string]*session  // cookie hash -> session
}

type session struct {
	created, used time.Time
}

func newSessions(now func() time.Time) *sessions {
	if now == nil {
		now = time.Now
	}
	return &sessions{now: now, logins: map[string]time.Time{}, live: map[string]*session{}}
}

func secret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return string(h[:])
}

// mintLogin returns a new single-use login token and its expiry.
func (ss *sessions) mintLogin() (string, time.Time, error) {
	tok, err := secret()
	if err != nil {
		return "", time.Time{}, err
	}
	now := ss.now()
	exp := now.Add(LoginTokenTTL)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for h, e := range ss.logins {
		if !now.Before(e) {
			delete(ss.logins, h)
		}
	}
	if len(ss.logins) >= maxLoginTokens {
		return "", time.Time{}, WithStatus(http.StatusTooManyRequests, fmt.Errorf("%d login links are waiting to be used; use one or wait %s for them to expire", len(ss.logins), LoginTokenTTL))
	}
	ss.logins[hashSecret(tok)] = exp
	return tok, exp, nil
}

// redeem uses up a login token and starts a session, returning its
// cookie value; false when the token is unknown, used or expired.
func (ss *sessions) redeem(tok string) (string, bool, error) {
	if tok == "" {
		return "", false, nil
	}
	now := ss.now()
	h := hashSecret(tok)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.logins[h]
	delete(ss.logins, h) // single use, even when expired
	if !ok || !now.Before(exp) {
		return "", false, nil
	}
	val, err := secret()
	if err != nil {
		return "", false, err
	}
	ss.expireLocked(now)
	if len(ss.live) >= maxSessions {
		var oldest string
		for k, s := range ss.live {
			if oldest == "" || s.used.Before(ss.live[oldest].used) {
				oldest = k
			}
		}
		delete(ss.live, oldest)
	}
	ss.live[hashSecret(val)] = &session{created: now, used: now}
	return val, true, nil
}

func (ss *sessions) expireLocked(now time.Time) {
	for k, s := range ss.live {
		if now.Sub(s.used) >= SessionIdle || now.Sub(s.created) >= SessionMax {
			delete(ss.live, k)
		}
	}
}

// check reports whether a cookie value is a live session, and marks it used.
func (ss *sessions) check(val string) bool {
	if val == "" {
		return false
	}
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.expireLocked(now)
	s, ok := ss.live[hashSecret(val)]
	if ok {
		s.used = now
	}
	return ok
}

// end forgets a session.
func (ss *sessions) end(val string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.live, hashSecret(val))
}

// cookieName is per port: browsers send a 127.0.0.1 cookie to every port
// of it, so two daemons (two users, two config directories) each need
// their own name.
func cookieName(host string) string {
	_, port, err := net.SplitHostPort(host)
	if err != nil || port == "" {
		port = "80"
	}
	return "kftray_session_" + port
}

type browserKey struct{}

// isBrowser reports whether the request came with a browser session
// (not the bearer token or the unix socket).
func isBrowser(r *http.Request) bool {
	b, _ := r.Context().Value(browserKey{}).(bool)
	return b
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead
}

// tcpHandler guards every request on a TCP listener and routes it: the
// web UI's pages, the login exchange, then the API for callers with the
// bearer token or a browser session.
func (s *Server) tcpHandler(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")

		if !loopbackRequest(w, r) {
			return
		}
		self := "http://" + r.Host
		if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, self) {
			s.opts.Log.Warn().Str("origin", o).Str("method", r.Method).Str("path", r.URL.Path).Msg("api: refusing a cross-origin request")
			writeError(w, http.StatusForbidden, fmt.Errorf("cross-origin request from %s refused; the kftray API answers only its own pages (%s)", o, self))
			return
		}
		ui := s.opts.UI != nil
		path := r.URL.Path
		if ui && path == "/ui/login" {
			s.login(w, r)
			return
		}
		// Another site, or another port of this host (the same "site" to
		// a browser), may not call the API nor load the UI's files; it
		// may only navigate to the UI's pages, which show nothing without
		// the cookie and cannot be framed.
		navigation := safeMethod(r.Method) && r.Header.Get("Sec-Fetch-Mode") == "navigate" && (path == "/" || strings.HasPrefix(path, "/ui/"))
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" && !navigation {
			s.opts.Log.Warn().Str("sec_fetch_site", site).Str("method", r.Method).Str("path", path).Msg("api: refusing a cross-site request")
			writeError(w, http.StatusForbidden, fmt.Errorf("%s request refused; the kftray API answers only its own pages (%s)", site, self))
			return
		}
		if ui && (path == "/" || path == "/ui") {
			http.Redirect(w, r, "/ui/", http.StatusSeeOther)
			return
		}
		if ui && strings.HasPrefix(path, "/ui/") {
			if !safeMethod(r.Method) {
				writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: the web UI's files are read only", r.Method, path))
				return
			}
			s.opts.UI.ServeHTTP(w, r)
			return
		}

		if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			if !tokenMatches(auth, s.opts.Token) {
				unauthorized(w, errors.New("wrong bearer token; it is in the file api.token in the kftray config directory"))
				return
			}
			api.ServeHTTP(w, r)
			return
		}
		c, err := r.Cookie(cookieName(r.Host))
		if !ui || err != nil {
			unauthorized(w, errors.New("missing bearer token (it is in the file api.token in the kftray config directory); in a browser, open the web UI with 'kftray ui'"))
			return
		}
		if !s.browser.check(c.Value) {
			http.SetCookie(w, &http.Cookie{Name: c.Name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
			writeError(w, http.StatusUnauthorized, errors.New("this browser session has ended (it expired, or the daemon restarted); run 'kftray ui' to open the web UI again"))
			return
		}
		if !safeMethod(r.Method) {
			if r.Header.Get("Origin") == "" || r.Header.Get(CSRFHeader) != "1" {
				s.opts.Log.Warn().Str("method", r.Method).Str("path", path).Msg("api: refusing a browser call without Origin and " + CSRFHeader)
				writeError(w, http.StatusForbidden, fmt.Errorf("a browser's %s must come from the kftray page itself (headers Origin and %s: 1)", r.Method, CSRFHeader))
				return
			}
		}
		api.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), browserKey{}, true)))
	})
}

// login exchanges a login token (?token=) for a session cookie and
// redirects to the UI without the token.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !safeMethod(r.Method) {
		writeError(w, http.StatusMethodNotAllowed, errors.New("open the login link with GET"))
		return
	}
	val, ok, err := s.browser.redeem(r.URL.Query().Get("token"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if !ok {
		s.opts.Log.Warn().Msg("web ui: refusing a used, expired or unknown login link")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, loginFailedPage, html.EscapeString(fmt.Sprint(LoginTokenTTL)))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName(r.Host), Value: val, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.opts.Log.Info().Msg("web ui: browser session started")
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

const loginFailedPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kftray: link expired</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>This kftray link does not work any more</h1>
<p>Login links work once, for %s. Run <code>kftray ui</code> in a terminal to open the web UI again.</p>
</main></body></html>
`

// uiLogin mints a login link: for the CLI (`kftray ui`) over the unix
// socket or with the bearer token, never for a browser session.
func (s *Server) uiLogin(w http.ResponseWriter, r *http.Request) {
	if isBrowser(r) {
		writeError(w, http.StatusForbidden, errors.New("a browser session cannot make login links; run 'kftray ui'"))
		return
	}
	if s.opts.UI == nil {
		writeError(w, http.StatusNotFound, errors.New("this daemon serves no web UI"))
		return
	}
	s.mu.Lock()
	addr := s.tcpAddr
	s.mu.Unlock()
	if addr == "" {
		writeError(w, http.StatusConflict, errors.New("the daemon serves no HTTP API (it was started with --no-http); restart it without: kftray daemon stop && kftray daemon start"))
		return
	}
	tok, exp, err := s.browser.mintLogin()
	if err != nil {
		writeError(w, errStatus(err), err)
		return
	}
	u := url.URL{Scheme: "http", Host: addr, Path: "/ui/login", RawQuery: url.Values{"token": {tok}}.Encode()}
	writeJSON(w, http.StatusOK, localapi.UILogin{URL: u.String(), ExpiresAt: exp})
}

// uiLogout ends the caller's browser session.
func (s *Server) uiLogout(w http.ResponseWriter, r *http.Request) {
	if !isBrowser(r) {
		writeError(w, http.StatusBadRequest, errors.New("only a browser session can log out"))
		return
	}
	if c, err := r.Cookie(cookieName(r.Host)); err == nil {
		s.browser.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName(r.Host), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}
