// Package gitsync reads one file of a git repository at the tip of a
// branch, with a pure-Go git client (go-git) into memory: nothing is
// written to disk and no git binary is run. It is how the daemon keeps a
// team's kftray configs in sync with a repository.
//
// TLS verification is always on; a custom CA bundle adds roots. A token
// is read from a file that only its owner may read, at each fetch, and is
// never kept or logged.
package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// maxFile bounds the file read (a config file is small).
const maxFile = 4 << 20

// TokenUser is the user name sent with a token (HTTP basic auth), which
// GitHub, GitLab and Gitea accept with a personal access token.
const TokenUser = "x-access-token"

// Source is one file in one repository.
type Source struct {
	URL       string // https://... or file://...
	Path      string // the file, relative to the repository's root
	Ref       string // branch; "" the remote's default branch (HEAD)
	TokenFile string // file holding a token (mode 0600 or stricter); "" none
	CAFile    string // PEM bundle of extra CA roots for https; "" the system's
}

// Check reports what is wrong with s before any fetch.
func (s Source) Check() error {
	u, err := url.Parse(s.URL)
	if err != nil {
		return fmt.Errorf("repository URL %q: %w", s.URL, err)
	}
	switch u.Scheme {
	case "https", "file":
	case "http":
		return fmt.Errorf("repository URL %q is plain http: the token and configs would cross the network unprotected; use https", s.URL)
	default:
		return fmt.Errorf("repository URL %q: scheme %q is not supported; use https://HOST/REPO or file:///PATH", s.URL, u.Scheme)
	}
	if u.User != nil {
		if _, hasPass := u.User.Password(); hasPass {
			return fmt.Errorf("repository URL has a password in it; put the token in a file (mode 0600) and pass --token-file")
		}
	}
	if s.TokenFile != "" && u.Scheme != "https" {
		return fmt.Errorf("a token file is only sent over https, and %q is %s", s.URL, u.Scheme)
	}
	p := strings.TrimSpace(s.Path)
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == "." || strings.HasPrefix(p, "../") || p == ".." {
		return fmt.Errorf("path %q: give the file's path inside the repository, relative and clean (configs/team.json)", s.Path)
	}
	if s.TokenFile != "" {
		if _, err := ReadToken(s.TokenFile); err != nil {
			return err
		}
	}
	if s.CAFile != "" {
		if _, err := os.ReadFile(s.CAFile); err != nil {
			return fmt.Errorf("CA bundle: %w", err)
		}
	}
	return nil
}

// ReadToken reads a token from name, which must be a regular file that
// neither group nor others may read or write.
func ReadToken(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s is not a regular file", name)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("token file %s has mode %04o: others may read it; run chmod 600 %s", name, perm, name)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", name, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", name)
	}
	return tok, nil
}

// Fetched is a file as read from the repository.
type Fetched struct {
	Data   []byte
	Commit string // the commit the file was read at
}

// ErrAuth means the server refused the credentials (or asked for some
// and none were given).
var ErrAuth = errors.New("the git server refused the credentials")

// Fetch reads s.Path at the tip of s.Ref.
func Fetch(ctx context.Context, s Source) (Fetched, error) {
	if err := s.Check(); err != nil {
		return Fetched{}, err
	}
	opts := &git.CloneOptions{URL: s.URL, SingleBranch: true, Depth: 1, NoCheckout: true, Tags: git.NoTags}
	if s.Ref != "" {
		opts.ReferenceName = plumbing.NewBranchReferenceName(s.Ref)
	}
	if s.TokenFile != "" {
		tok, err := ReadToken(s.TokenFile)
		if err != nil {
			return Fetched{}, err
		}
		opts.Auth = &githttp.BasicAuth{Username: TokenUser, Password: tok}
	}
	if s.CAFile != "" {
		ca, err := os.ReadFile(s.CAFile)
		if err != nil {
			return Fetched{}, fmt.Errorf("CA bundle: %w", err)
		}
		opts.CABundle = ca
	}
	var (
		repo *git.Repository
		head *plumbing.Reference
		err  error
	)
	if u, _ := url.Parse(s.URL); u.Scheme == "file" {
		// go-git's file transport runs git-upload-pack; a local
		// repository is read in process instead.
		if repo, err = git.PlainOpen(u.Path); err != nil {
			return Fetched{}, fmt.Errorf("%s: opening the repository: %w", s.URL, err)
		}
		if s.Ref != "" {
			head, err = repo.Reference(plumbing.NewBranchReferenceName(s.Ref), true)
		} else {
			head, err = repo.Head()
		}
		if err != nil {
			return Fetched{}, explain(s, err)
		}
	} else {
		if repo, err = git.CloneContext(ctx, memory.NewStorage(), nil, opts); err != nil {
			return Fetched{}, explain(s, err)
		}
		if head, err = repo.Head(); err != nil {
			return Fetched{}, fmt.Errorf("%s: reading the fetched branch: %w", s.URL, err)
		}
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		return Fetched{}, fmt.Errorf("%s: commit %s: %w", s.URL, head.Hash(), err)
	}
	f, err := commit.File(s.Path)
	if errors.Is(err, object.ErrFileNotFound) {
		return Fetched{}, fmt.Errorf("%s has no file %s at commit %s (branch %s); check --path", s.URL, s.Path, short(head.Hash()), head.Name().Short())
	}
	if err != nil {
		return Fetched{}, fmt.Errorf("%s: reading %s: %w", s.URL, s.Path, err)
	}
	if f.Size > maxFile {
		return Fetched{}, fmt.Errorf("%s: %s is %d bytes, more than a config file may be (%d)", s.URL, s.Path, f.Size, maxFile)
	}
	rd, err := f.Reader()
	if err != nil {
		return Fetched{}, fmt.Errorf("%s: reading %s: %w", s.URL, s.Path, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return Fetched{}, fmt.Errorf("%s: reading %s: %w", s.URL, s.Path, err)
	}
	return Fetched{Data: data, Commit: head.Hash().String()}, nil
}

func short(h plumbing.Hash) string { return h.String()[:12] }

// explain turns a clone failure into what the user should do.
func explain(s Source, err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired) && s.TokenFile == "":
		return fmt.Errorf("%w: %s asks for credentials; pass --token-file with a token that may read it", ErrAuth, s.URL)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%w: %s refused the token in %s (%v); check that it is valid and may read the repository", ErrAuth, s.URL, s.TokenFile, err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%s: repository not found (or the token may not see it): %w", s.URL, err)
	case errors.Is(err, plumbing.ErrReferenceNotFound) || errors.Is(err, git.NoMatchingRefSpecError{}):
		return fmt.Errorf("%s has no branch %q: %w", s.URL, s.Ref, err)
	case strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "certificate"):
		return fmt.Errorf("%s: the server's TLS certificate is not trusted (%w); if it is signed by a private CA, pass its PEM bundle with --ca-file", s.URL, err)
	}
	return fmt.Errorf("fetching %s: %w", s.URL, err)
}
