package cluster

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPKI(t *testing.T) {
	p, err := newPKI(t.TempDir(), "node-a")
	if err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, p.path(caCert))
	if !ca.IsCA || !ca.BasicConstraintsValid {
		t.Fatal("CA certificate lacks CA:TRUE; kube-controller-manager rejects such a root")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	tests := []struct {
		file  string
		usage x509.ExtKeyUsage
		host  string // verified name, "" for client certificates
	}{
		{apiserverCert, x509.ExtKeyUsageServerAuth, "127.0.0.1"},
		{apiserverCert, x509.ExtKeyUsageServerAuth, "kubernetes.default.svc"},
		{kubeletCert, x509.ExtKeyUsageServerAuth, "127.0.0.1"},
		{kubeletCert, x509.ExtKeyUsageServerAuth, "node-a"},
		{kubeletClientCert, x509.ExtKeyUsageClientAuth, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.host, func(t *testing.T) {
			c := readCert(t, p.path(tt.file))
			_, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}

	tok, err := os.ReadFile(p.path(tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.token) < 32 || !strings.HasPrefix(string(tok), p.token+",admin,") || !strings.Contains(string(tok), "system:masters") {
		t.Errorf("token file %q does not grant token %q system:masters", tok, p.token)
	}
	for _, f := range []string{caKey, apiserverKey, kubeletKey, kubeletClientKey, saKey, saPub, tokenFile} {
		st, err := os.Stat(p.path(f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
}
