package httpapi

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	const token = "s3cret"
	srv := httptest.NewServer(Guard(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "inside")
	})))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)

	for _, tc := range []struct {
		name, method, host, origin, auth string
		want                             int
		says                             string
	}{
		{name: "token", auth: "Bearer " + token, want: 200, says: "inside"},
		{name: "no token", want: 401, says: "api.token"},
		{name: "wrong token", auth: "Bearer nope", want: 401},
		{name: "token without Bearer", auth: token, want: 401},
		{name: "rebinding host", host: "evil.example:" + port, auth: "Bearer " + token, want: 403, says: "not a loopback address"},
		{name: "localhost host", host: "localhost:" + port, auth: "Bearer " + token, want: 200},
		{name: "foreign origin", origin: "http://evil.example", auth: "Bearer " + token, want: 403, says: "origin"},
		{name: "foreign origin, no token", origin: "https://evil.example", want: 403},
		{name: "loopback origin, other port", origin: "http://127.0.0.1:1", auth: "Bearer " + token, want: 403},
		{name: "null origin", origin: "null", auth: "Bearer " + token, want: 403},
		{name: "https origin of this port", origin: "https://127.0.0.1:" + port, auth: "Bearer " + token, want: 403},
		{name: "own origin", origin: "http://127.0.0.1:" + port, auth: "Bearer " + token, want: 200},
		{name: "own origin as localhost", origin: "http://localhost:" + port, auth: "Bearer " + token, want: 200},
		{name: "preflight from a page", method: http.MethodOptions, origin: "http://evil.example", want: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, srv.URL+"/mcp", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.says) {
				t.Fatalf("%s: %d %s; want %d saying %q", tc.name, resp.StatusCode, body, tc.want, tc.says)
			}
			for k := range resp.Header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("%s: CORS header %s: %v", tc.name, k, resp.Header[k])
				}
			}
			if tc.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	// An empty token admits no one.
	open := httptest.NewServer(Guard("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer open.Close()
	req, _ := http.NewRequest(http.MethodPost, open.URL, nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("empty token: %d; want 401", resp.StatusCode)
	}
}
