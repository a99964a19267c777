package ipc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFilterPluginEnv(t *testing.T) {
	in := []string{
		"PATH=/tmp/evil",
		"PLUGIN_UNIX_SOCKET_DIR=/tmp/attacker",
		"PLUGIN_UNIX_SOCKET_GROUP=0",
		"TMPDIR=/tmp/attacker",
		"LD_PRELOAD=/tmp/evil.so",
		"PLUGIN_PROTOCOL_VERSIONS=1",
		Handshake.MagicCookieKey + "=" + Handshake.MagicCookieValue,
		"PLUGIN_CLIENT_CERT=-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----",
		"PLUGIN_PROTOCOL_VERSIONS=2", // last one wins, as in exec
		"garbage",
	}
	got, err := FilterPluginEnv(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PLUGIN_PROTOCOL_VERSIONS=2",
		Handshake.MagicCookieKey + "=" + Handshake.MagicCookieValue,
		"PLUGIN_CLIENT_CERT=-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"PLUGIN_CLIENT_CERT=" + strings.Repeat("x", MaxEnvValue+1), "PLUGIN_PROTOCOL_VERSIONS=1\x00"} {
		if _, err := FilterPluginEnv([]string{bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("accepted %.40q: %v", bad, err)
		}
	}
}

func TestCheckClientCert(t *testing.T) {
	// A real AutoMTLS client certificate, as go-plugin's client makes one.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	good := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	tests := []struct {
		name string
		env  []string
		want string // "" = accepted
	}{
		{"certificate", []string{"A=b", ClientCertEnv + "=" + good}, ""},
		{"none", []string{"PLUGIN_PROTOCOL_VERSIONS=1"}, "no client certificate"},
		{"empty", []string{ClientCertEnv + "="}, "no client certificate"},
		{"last one wins", []string{ClientCertEnv + "=" + good, ClientCertEnv + "="}, "no client certificate"},
		{"not PEM", []string{ClientCertEnv + "=hello"}, "not a PEM certificate"},
		{"a key, not a certificate", []string{ClientCertEnv + "=" + string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}}))}, "not a PEM certificate"},
		{"PEM garbage", []string{ClientCertEnv + "=" + string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))}, ClientCertEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckClientCert(tt.env)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}
