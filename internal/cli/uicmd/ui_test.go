package uicmd

import (
	"os"
	"strings"
	"testing"
)

// TestOpenPage: the page that carries the login link to the browser is
// readable by its owner only and escapes the link.
func TestOpenPage(t *testing.T) {
	dir := t.TempDir()
	link := `http://127.0.0.1:4242/ui/login?token=abc&x="><script>`
	p, err := writeOpenPage(dir, link)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v; want mode 0600", p, fi.Mode(), err)
	}
	b, _ := os.ReadFile(p)
	page := string(b)
	if !strings.Contains(page, `content="0;url=http://127.0.0.1:4242/ui/login?token=abc&amp;x=&#34;&gt;&lt;script&gt;"`) || strings.Contains(page, "<script") {
		t.Fatalf("page:\n%s", page)
	}
	if !strings.Contains(page, `name="referrer" content="no-referrer"`) {
		t.Fatalf("page sends a referrer:\n%s", page)
	}
}
