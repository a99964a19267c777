package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/gittest"
	"github.com/kftray-go/kftray/localapi"
)

// teamFile is a kftray JSON file with one service config per alias, each
// forwarding Service alias's port.
func teamFile(ports map[string]int) string {
	var entries []string
	for alias, p := range ports {
		entries = append(entries, fmt.Sprintf(`{"alias": %q, "namespace": "team", "workload_type": "service", "protocol": "tcp", "service": %q, "remote_port": %d, "local_port": %d, "context": "dev"}`,
			alias, alias, p, p+10000))
	}
	sort.Strings(entries)
	return "[" + strings.Join(entries, ",\n") + "]\n"
}

// configPorts maps each stored config's alias to its remote port.
func configPorts(t *testing.T, c *localapi.Client) map[string]int {
	t.Helper()
	fs, err := c.Forwards(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, f := range fs {
		m[f.Config.Alias] = f.Config.RemotePort
	}
	return m
}

func samePorts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestGitSyncHTTPS: a source served by git http-backend over TLS (test CA
// passed as the CA bundle) with a token: the first sync imports, a pushed
// change arrives on the interval, a bad file is rejected with the last
// good configs kept, a wrong token is reported as such, and the token is
// in no file the daemon writes.
func TestGitSyncHTTPS(t *testing.T) {
	repo := gittest.NewRepo(t)
	v1 := map[string]int{"api": 80, "db": 5432}
	repo.Push("main", map[string]string{"kftray/team.json": teamFile(v1)})
	const token = "tok-3f9a1c0d2e"
	u, ca := repo.HTTPS(token)
	tokenFile := gittest.TokenFile(t, token, 0o600)

	dir := shortDir(t)
	c, _ := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine()})
	ctx := context.Background()

	st, err := c.AddSyncSource(ctx, localapi.SyncSource{URL: u, Path: "kftray/team.json", TokenFile: tokenFile, CAFile: ca, Interval: "1s"})
	if err != nil {
		t.Fatal(err)
	}
	if st.LastError != "" || st.Result == nil || len(st.Result.Added) != 2 || len(st.Commit) != 40 {
		t.Fatalf("first sync: %+v", st)
	}
	if got := configPorts(t, c); !samePorts(got, v1) {
		t.Fatalf("after the first sync: %v, want %v", got, v1)
	}

	// A pushed change arrives at the next interval, with no one asking.
	v2 := map[string]int{"api": 80, "db": 5432, "cache": 6379}
	repo.Push("main", map[string]string{"kftray/team.json": teamFile(v2)})
	waitFor(t, "the pushed change imported on the interval", func() (bool, string) {
		got := configPorts(t, c)
		return samePorts(got, v2), fmt.Sprint(got)
	})
	list, err := c.SyncSources(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("sync status: %+v %v", list, err)
	}
	good := list[0].Commit

	// A bad file: rejected, reported, the last good configs stay.
	repo.Push("main", map[string]string{"kftray/team.json": `[{"alias": "x", "namespace": "team", "workload_type": "service", "servce": "x", "remote_port": 80}]`})
	now, err := c.SyncNow(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(now) != 1 || !strings.Contains(now[0].LastError, "rejected kftray/team.json") || !strings.Contains(now[0].LastError, "servce") ||
		!strings.Contains(now[0].LastError, "are kept") || now[0].Commit != good {
		t.Fatalf("bad file: %+v; want it rejected naming the file and field, the last good commit %s kept", now, good)
	}
	if got := configPorts(t, c); !samePorts(got, v2) {
		t.Fatalf("after the bad file: %v, want the last good %v", got, v2)
	}

	// A wrong token: reported as a refused token, naming the file, never
	// the token.
	if err := os.WriteFile(tokenFile, []byte("wrong-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now, err = c.SyncNow(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(now) != 1 || !strings.Contains(now[0].LastError, "refused the token in "+tokenFile) || strings.Contains(now[0].LastError, "wrong-token") {
		t.Fatalf("wrong token: %+v", now)
	}
	if got := configPorts(t, c); !samePorts(got, v2) {
		t.Fatalf("after the wrong token: %v, want the last good %v", got, v2)
	}
	b, err := os.ReadFile(filepath.Join(dir, SyncFileName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), token) || strings.Contains(string(b), "wrong-token") {
		t.Fatalf("%s holds a token:\n%s", SyncFileName, b)
	}
	if fi, err := os.Stat(filepath.Join(dir, SyncFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s mode: %v %v", SyncFileName, fi.Mode(), err)
	}

	if err := c.RemoveSyncSource(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := c.SyncSources(ctx); err != nil || len(list) != 0 {
		t.Fatalf("after rm: %+v %v", list, err)
	}
	if err := c.RemoveSyncSource(ctx, st.ID); statusCode(err) != 404 {
		t.Fatalf("rm again: %v; want 404", err)
	}
}

// TestGitSyncFileFlush: a bare repository over file://, with flush: the
// file replaces the stored configs (one added by hand goes).
func TestGitSyncFileFlush(t *testing.T) {
	repo := gittest.NewRepo(t)
	v1 := map[string]int{"api": 80}
	repo.Push("main", map[string]string{"team.json": teamFile(v1)})
	c, _ := runDaemon(t, Options{Dir: shortDir(t), Engine: testWorld(t).engine()})
	ctx := context.Background()
	if _, err := c.CreateConfig(ctx, fwdconfig.Config{Alias: "mine", Namespace: "default", WorkloadType: "service", Protocol: "tcp", Service: "mine", RemotePort: 80}); err != nil {
		t.Fatal(err)
	}
	st, err := c.AddSyncSource(ctx, localapi.SyncSource{URL: repo.FileURL(), Path: "team.json", Interval: "0", Flush: true})
	if err != nil || st.LastError != "" {
		t.Fatalf("add: %+v %v", st, err)
	}
	if got := configPorts(t, c); !samePorts(got, v1) {
		t.Fatalf("after a flush sync: %v, want only %v", got, v1)
	}
	// A changed port is another forward (kftray's identity rule): merged,
	// its alias would clash; flushed, it replaces the old one.
	v2 := map[string]int{"api": 8080, "db": 5432}
	repo.Push("main", map[string]string{"team.json": teamFile(v2)})
	if now, err := c.SyncNow(ctx, st.ID); err != nil || now[0].LastError != "" {
		t.Fatalf("sync now: %+v %v", now, err)
	}
	if got := configPorts(t, c); !samePorts(got, v2) {
		t.Fatalf("after the second flush sync: %v, want %v", got, v2)
	}
	for _, bad := range []localapi.SyncSource{
		{URL: "http://example.invalid/r.git", Path: "a.json"},
		{URL: repo.FileURL(), Path: "a.json", Interval: "soon"},
		{URL: repo.FileURL(), Path: "a.json", CAFile: "relative.pem"},
		{URL: repo.FileURL(), Path: "team.json"}, // already synced
	} {
		if _, err := c.AddSyncSource(ctx, bad); statusCode(err) != 400 {
			t.Errorf("add %+v: %v; want 400", bad, err)
		}
	}
}

// TestGitSyncCorruptFile: a corrupt gitsync.json does not keep the daemon
// from starting; it is moved aside, not overwritten.
func TestGitSyncCorruptFile(t *testing.T) {
	dir := shortDir(t)
	if err := os.WriteFile(filepath.Join(dir, SyncFileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := runDaemon(t, Options{Dir: dir, Engine: testWorld(t).engine()})
	if list, err := c.SyncSources(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("sources: %+v %v", list, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, SyncFileName+".bad")); err != nil || string(b) != "{not json" {
		t.Fatalf("the corrupt file set aside: %q %v", b, err)
	}
}
