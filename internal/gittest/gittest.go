// Package gittest runs real git servers for tests: a bare repository
// (reached over file://) that tests push commits to with the git CLI, and
// git http-backend behind a local HTTPS server that wants a token. Only
// tests use it; the product never runs git.
package gittest

import (
	"crypto/subtle"
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a bare repository and a work tree that pushes to it.
type Repo struct {
	t    testing.TB
	Bare string // the bare repository (its parent is the http root)
	work string
	env  []string
}

// NewRepo creates an empty bare repository whose default branch is main.
// It skips the test when the git CLI is missing.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git CLI not found; the git sync tests need it to create commits")
	}
	root := t.TempDir()
	r := &Repo{t: t, Bare: filepath.Join(root, "srv", "team.git"), work: filepath.Join(root, "work"),
		env: append(os.Environ(), "HOME="+root, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")}
	r.git(root, "init", "-q", "--bare", "-b", "main", r.Bare)
	r.git(root, "init", "-q", "-b", "main", r.work)
	r.git(r.work, "remote", "add", "origin", r.Bare)
	return r
}

func (r *Repo) git(dir string, args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Push commits files (path -> content) on branch and pushes it.
func (r *Repo) Push(branch string, files map[string]string) {
	r.t.Helper()
	r.git(r.work, "checkout", "-q", "-B", branch)
	for name, content := range files {
		p := filepath.Join(r.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git(r.work, "add", "-A")
	r.git(r.work, "commit", "-q", "--allow-empty", "-m", "update")
	r.git(r.work, "push", "-q", "origin", branch)
}

// FileURL is the bare repository's file:// URL.
func (r *Repo) FileURL() string { return "file://" + r.Bare }

// HTTPS serves the repository with git http-backend on an httptest TLS
// server that accepts only basic auth with token as the password. It
// returns the repository's URL and a PEM file holding the server's CA.
func (r *Repo) HTTPS(token string) (repoURL, caFile string) {
	r.t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		r.t.Fatal(err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		r.t.Skipf("git http-backend not found: %v", err)
	}
	cg := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(r.Bare), "GIT_HTTP_EXPORT_ALL=1", "HOME=" + filepath.Dir(r.work)}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, pass, ok := req.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		cg.ServeHTTP(w, req)
	}))
	r.t.Cleanup(srv.Close)
	caFile = filepath.Join(r.t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		r.t.Fatal(err)
	}
	return srv.URL + "/" + filepath.Base(r.Bare), caFile
}

// TokenFile writes token to a new file of mode perm and returns its path.
func TokenFile(t testing.TB, token string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}
