package kube

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestContexts(t *testing.T) {
	dir := t.TempDir()
	a := writeKubeconfig(t, dir, "a", "dev", "dev", "staging")
	b := writeKubeconfig(t, dir, "b", "prod", "prod")
	got, err := Contexts(a + string(os.PathListSeparator) + b)
	if err != nil {
		t.Fatal(err)
	}
	// Merged as kubectl merges: the first file's current context wins.
	want := []ContextInfo{{Name: "dev", Cluster: "dev", Current: true}, {Name: "prod", Cluster: "prod"}, {Name: "staging", Cluster: "staging"}}
	if len(got) != len(want) {
		t.Fatalf("contexts %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("contexts %+v, want %+v", got, want)
		}
	}
	missing := filepath.Join(dir, "missing")
	if _, err := Contexts(missing); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing file: %v; want ErrConfig naming it", err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("contexts: [oops"), 0o600)
	if _, err := Contexts(bad); !errors.Is(err, ErrConfig) {
		t.Fatalf("a file that does not parse: %v; want ErrConfig", err)
	}
}
