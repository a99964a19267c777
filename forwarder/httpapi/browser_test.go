package httpapi

import (
	"net/http"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestLoginTokensAndSessionsExpire: a login token works once and only
// within LoginTokenTTL; a session ends after SessionIdle without use and
// after SessionMax in any case; floods are bounded.
func TestLoginTokensAndSessionsExpire(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ss := newSessions(c.now)

	tok, exp, err := ss.mintLogin()
	if err != nil || !exp.Equal(c.t.Add(LoginTokenTTL)) {
		t.Fatalf("mint: %v %v", exp, err)
	}
	c.t = exp // expired at its expiry
	if _, ok, _ := ss.redeem(tok); ok {
		t.Fatal("an expired login token was accepted")
	}

	tok, _, _ = ss.mintLogin()
	c.t = c.t.Add(LoginTokenTTL - time.Second)
	val, ok, err := ss.redeem(tok)
	if !ok || err != nil || val == "" {
		t.Fatalf("redeem within its lifetime: %v %v", ok, err)
	}
	if _, ok, _ := ss.redeem(tok); ok {
		t.Fatal("a login token worked twice")
	}
	if !ss.check(val) || ss.check(val+"x") || ss.check("") {
		t.Fatal("session check")
	}

	// Used now and then, a session lives up to SessionMax.
	created := c.t
	for c.t.Sub(created) < SessionMax-SessionIdle {
		c.t = c.t.Add(SessionIdle - time.Minute)
		if !ss.check(val) {
			t.Fatalf("session ended after %v of regular use", c.t.Sub(created))
		}
	}
	c.t = created.Add(SessionMax)
	if ss.check(val) {
		t.Fatal("session outlived SessionMax")
	}

	// Idle too long.
	tok, _, _ = ss.mintLogin()
	val, _, _ = ss.redeem(tok)
	c.t = c.t.Add(SessionIdle)
	if ss.check(val) {
		t.Fatal("session outlived SessionIdle without use")
	}

	// Bounded: at most maxLoginTokens waiting links (429), at most
	// maxSessions sessions (the least recently used goes).
	for range maxLoginTokens {
		if _, _, err := ss.mintLogin(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ss.mintLogin(); errStatus(err) != http.StatusTooManyRequests {
		t.Fatalf("login link beyond the cap: %v, want 429", err)
	}
	c.t = c.t.Add(LoginTokenTTL)
	var first string
	for i := range maxSessions + 1 {
		tok, _, err := ss.mintLogin()
		if err != nil {
			t.Fatal(err)
		}
		v, ok, _ := ss.redeem(tok)
		if !ok {
			t.Fatal("redeem")
		}
		if i == 0 {
			first = v
		}
		c.t = c.t.Add(time.Second)
	}
	if len(ss.live) != maxSessions || ss.check(first) {
		t.Fatalf("%d sessions, oldest still live %v; want %d and the oldest gone", len(ss.live), ss.check(first), maxSessions)
	}
}

func TestCookieNameIsPerPort(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1:4242": "kftray_session_4242",
		"[::1]:80":       "kftray_session_80",
		"localhost":      "kftray_session_80",
	} {
		if got := cookieName(host); got != want {
			t.Errorf("cookieName(%q) = %q, want %q", host, got, want)
		}
	}
}
