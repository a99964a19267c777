package main

import (
	"bytes"
	"os"
	"regexp"
	"runtime"
	"testing"

	"github.com/kftray-go/kftray/helper/install"
	"github.com/kftray-go/kftray/helper/minisign"
)

func TestDevSigningVerifiesWithPrintedKey(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("kftray-helper", []byte("helper bytes"), 0o755)
	var out bytes.Buffer
	if err := run([]string{"-dev", "-version", "v0.0.0-dev", "kftray-helper"}, &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`DevPublicKey=(\S+)"`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no key flag printed:\n%s", out.String())
	}
	pub, err := minisign.ParsePublicKey([]byte(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := os.ReadFile("kftray-helper.minisig")
	v, err := install.Verify([]byte("helper bytes"), sig, []minisign.PublicKey{pub}, "v0.0.0-dev", runtime.GOOS, runtime.GOARCH)
	if err != nil || v != "v0.0.0-dev" {
		t.Fatalf("Verify = %q, %v", v, err)
	}
	if st, err := os.Stat(".dev-keys/kftray-helper-dev.key"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("dev key: %v %v", st, err)
	}
	// A second run reuses the key.
	out.Reset()
	if err := run([]string{"-dev", "-version", "v0.0.0-dev", "kftray-helper"}, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Bytes(), []byte(m[1])) {
		t.Fatal("dev key changed between runs")
	}
}
