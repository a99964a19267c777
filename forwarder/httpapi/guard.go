package httpapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Guard admits requests to a loopback endpoint served beside the API (the
// MCP endpoint) as the TCP API does, and more strictly, since MCP clients
// include browser-based tools:
//
//   - Host must name the loopback (no DNS rebinding): 403;
//   - Origin, when a browser sends one, must be this very listener
//     (http://127.0.0.1:PORT, http://localhost:PORT, http://[::1]:PORT on
//     the port the request arrived at): any other page is refused with 403;
//   - Authorization must be "Bearer TOKEN": 401.
//
// It never sends CORS headers, so a browser shows a cross-origin page
// nothing even when the checks pass. An empty token refuses everything.
func Guard(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackRequest(w, r) {
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameLoopbackOrigin(o, listenerPort(r)) {
			writeError(w, http.StatusForbidden, fmt.Errorf("origin %q may not call this endpoint: only clients that are not web pages (no Origin), or pages of this endpoint itself, may", o))
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !tokenMatches(got, token) {
			unauthorized(w, errors.New("missing or wrong bearer token; send 'Authorization: Bearer TOKEN' with the token in the file api.token in the kftray config directory"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackRequest answers 403 and reports false unless the request's Host
// names the loopback (no DNS rebinding).
func loopbackRequest(w http.ResponseWriter, r *http.Request) bool {
	if !loopbackHost(r.Host) {
		writeError(w, http.StatusForbidden, fmt.Errorf("host %q is not a loopback address; use http://127.0.0.1:PORT", r.Host))
		return false
	}
	return true
}

// tokenMatches reports, in constant time, whether got is the bearer token
// want; an empty want matches nothing.
func tokenMatches(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// unauthorized answers 401 with err, asking for the bearer token.
func unauthorized(w http.ResponseWriter, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="kftray"`)
	writeError(w, http.StatusUnauthorized, err)
}

// listenerPort is the port the request arrived at, "" if unknown.
func listenerPort(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && a != nil {
		if _, p, err := net.SplitHostPort(a.String()); err == nil {
			return p
		}
	}
	return ""
}

// sameLoopbackOrigin reports whether origin is an http origin on the
// loopback with the given port.
func sameLoopbackOrigin(origin, port string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return false
	}
	p := u.Port()
	if p == "" {
		p = "80"
	}
	return port != "" && p == port && loopbackHost(u.Host)
}
