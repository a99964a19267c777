package minisign

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// Keys survive their file formats.
	priv2, err := ParsePrivateKey(priv.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	pub2, err := ParsePublicKey(pub.Marshal())
	if err != nil || !bytes.Equal(pub2.Key, pub.Key) || pub2.KeyID != pub.KeyID {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := ParsePublicKey([]byte(pub.String())); err != nil {
		t.Fatalf("bare base64 key: %v", err)
	}
	msg := []byte("the helper binary")
	sigFile, err := Sign(priv2, msg, "name=kftray-helper version=v1", "signature")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ParseSignature(sigFile)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := Verify(pub, msg, sig)
	if err != nil || tc != "name=kftray-helper version=v1" {
		t.Fatalf("Verify = %q, %v", tc, err)
	}

	otherPub, _, _ := GenerateKey()
	tampered := sig
	tampered.TrustedComment = "name=kftray-helper version=v2"
	forged := sig
	forged.Sig[0] ^= 1
	tests := []struct {
		name string
		pk   PublicKey
		msg  []byte
		sig  Signature
	}{
		{"tampered file", pub, []byte("the helper binary!"), sig},
		{"tampered trusted comment", pub, msg, tampered},
		{"tampered signature", pub, msg, forged},
		{"other key", otherPub, msg, sig},
	}
	for _, tt := range tests {
		if _, err := Verify(tt.pk, tt.msg, tt.sig); !errors.Is(err, ErrVerify) {
			t.Errorf("%s: err = %v, want ErrVerify", tt.name, err)
		}
	}
	if _, err := Sign(priv, msg, "two\nlines", ""); err == nil {
		t.Error("multi-line trusted comment accepted")
	}
}

// TestInteropWithMinisignTool checks both directions against the real
// minisign, when it is installed (apt install minisign).
func TestInteropWithMinisignTool(t *testing.T) {
	tool, err := exec.LookPath("minisign")
	if err != nil {
		t.Skip("minisign not installed")
	}
	dir := t.TempDir()
	pubPath, secPath := filepath.Join(dir, "k.pub"), filepath.Join(dir, "k.key")
	if out, err := exec.Command(tool, "-G", "-W", "-f", "-p", pubPath, "-s", secPath).CombinedOutput(); err != nil {
		t.Fatalf("minisign -G: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "bin")
	os.WriteFile(file, []byte("helper bytes"), 0o644)

	// minisign signs, we verify.
	if out, err := exec.Command(tool, "-S", "-s", secPath, "-m", file, "-t", "name=kftray-helper x=1").CombinedOutput(); err != nil {
		t.Fatalf("minisign -S: %v\n%s", err, out)
	}
	pb, _ := os.ReadFile(pubPath)
	pub, err := ParsePublicKey(pb)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := os.ReadFile(file + ".minisig")
	sig, err := ParseSignature(sb)
	if err != nil {
		t.Fatal(err)
	}
	if tc, err := Verify(pub, []byte("helper bytes"), sig); err != nil || tc != "name=kftray-helper x=1" {
		t.Fatalf("verify minisign's signature: %q %v", tc, err)
	}

	// We sign with minisign's key file, minisign verifies.
	kb, _ := os.ReadFile(secPath)
	sk, err := ParsePrivateKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := Sign(sk, []byte("helper bytes"), "name=kftray-helper y=2", "ours")
	os.WriteFile(file+".minisig", ours, 0o644)
	out, err := exec.Command(tool, "-V", "-p", pubPath, "-m", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "name=kftray-helper y=2") {
		t.Fatalf("minisign -V of our signature: %v\n%s", err, out)
	}
}
