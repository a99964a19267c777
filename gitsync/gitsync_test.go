package gitsync_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/gitsync"
	"github.com/kftray-go/kftray/internal/gittest"
)

func TestFetchFileURL(t *testing.T) {
	r := gittest.NewRepo(t)
	r.Push("main", map[string]string{"kftray/team.json": "v1"})
	r.Push("dev", map[string]string{"kftray/team.json": "dev"})
	ctx := context.Background()
	for _, tc := range []struct{ ref, want string }{{"", "v1"}, {"main", "v1"}, {"dev", "dev"}} {
		got, err := gitsync.Fetch(ctx, gitsync.Source{URL: r.FileURL(), Path: "kftray/team.json", Ref: tc.ref})
		if err != nil || string(got.Data) != tc.want || len(got.Commit) != 40 {
			t.Errorf("ref %q: %q %s %v; want %q", tc.ref, got.Data, got.Commit, err, tc.want)
		}
	}
	r.Push("main", map[string]string{"kftray/team.json": "v2"})
	if got, err := gitsync.Fetch(ctx, gitsync.Source{URL: r.FileURL(), Path: "kftray/team.json"}); err != nil || string(got.Data) != "v2" {
		t.Errorf("after a push: %q %v; want v2", got.Data, err)
	}
	for _, tc := range []struct {
		src  gitsync.Source
		want string
	}{
		{gitsync.Source{URL: r.FileURL(), Path: "nope.json"}, "has no file nope.json"},
		{gitsync.Source{URL: r.FileURL(), Path: "kftray/team.json", Ref: "gone"}, `no branch "gone"`},
		{gitsync.Source{URL: r.FileURL(), Path: "../x"}, "relative and clean"},
		{gitsync.Source{URL: "http://example.invalid/r.git", Path: "a.json"}, "use https"},
		{gitsync.Source{URL: "ssh://example.invalid/r.git", Path: "a.json"}, "not supported"},
		{gitsync.Source{URL: r.FileURL(), Path: "a.json", TokenFile: gittest.TokenFile(t, "s3cret", 0o600)}, "only sent over https"},
	} {
		_, err := gitsync.Fetch(ctx, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want an error containing %q", tc.src, err, tc.want)
		}
	}
}

func TestFetchHTTPSWithToken(t *testing.T) {
	r := gittest.NewRepo(t)
	r.Push("main", map[string]string{"team.json": "v1"})
	const token = "s3cret-token-value"
	u, ca := r.HTTPS(token)
	ctx := context.Background()
	good := gitsync.Source{URL: u, Path: "team.json", TokenFile: gittest.TokenFile(t, token, 0o600), CAFile: ca}
	got, err := gitsync.Fetch(ctx, good)
	if err != nil || string(got.Data) != "v1" {
		t.Fatalf("fetch: %q %v", got.Data, err)
	}
	r.Push("main", map[string]string{"team.json": "v2"})
	if got, err = gitsync.Fetch(ctx, good); err != nil || string(got.Data) != "v2" {
		t.Fatalf("after a push: %q %v", got.Data, err)
	}

	wrong := good
	wrong.TokenFile = gittest.TokenFile(t, "not-the-token", 0o600)
	_, err = gitsync.Fetch(ctx, wrong)
	if !errors.Is(err, gitsync.ErrAuth) || !strings.Contains(err.Error(), wrong.TokenFile) || strings.Contains(err.Error(), "not-the-token") {
		t.Errorf("wrong token: %v; want ErrAuth naming the token file, not the token", err)
	}
	none := good
	none.TokenFile = ""
	if _, err = gitsync.Fetch(ctx, none); !errors.Is(err, gitsync.ErrAuth) || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("no token: %v; want ErrAuth asking for --token-file", err)
	}
	noCA := good
	noCA.CAFile = ""
	if _, err = gitsync.Fetch(ctx, noCA); err == nil || !strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("without the CA: %v; want an untrusted-certificate error naming --ca-file", err)
	}
	open := good
	open.TokenFile = gittest.TokenFile(t, token, 0o644)
	if _, err = gitsync.Fetch(ctx, open); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("token file 0644: %v; want a refusal asking for chmod 600", err)
	}
}
