package launcher

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/ipc"
	"github.com/kftray-go/kftray/ipc/fdpass"
)

// startLauncher runs the launcher in-process on temp paths. Its plugin
// executable does not exist: these tests only exercise refusals, which
// happen before anything is started.
func startLauncher(t *testing.T, allowed []int) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	b, _ := json.Marshal(map[string]any{"allowed_uids": allowed})
	os.WriteFile(cfg, b, 0o644)
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n"), 0o644)
	sock := filepath.Join(dir, "helper.sock")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Options{Socket: sock, ConfigPath: cfg, HostsPath: hosts, RunDir: filepath.Join(dir, "run"),
		Executable: filepath.Join(dir, "no-such-plugin"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); s.Stop() })
	return sock
}

func launch(t *testing.T, sock string, body []byte, fds ...int) ipc.LaunchResponse {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fc := fdpass.New(c)
	fc.Write(body, fds...) // a refusing launcher may hang up first
	rb, rfds, err := fc.Read()
	fdpass.CloseFDs(rfds)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var r ipc.LaunchResponse
	if err := json.Unmarshal(rb, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLaunchRequestsAreChecked(t *testing.T) {
	me := os.Getuid()
	sock := startLauncher(t, []int{me})
	pipeR, pipeW, _ := os.Pipe()
	defer pipeR.Close()
	defer pipeW.Close()
	a, b, _ := fdpass.Socketpair()
	defer a.Close()
	defer b.Close()
	sf, _ := b.File()
	defer sf.Close()
	file, _ := os.CreateTemp(t.TempDir(), "stdout")
	defer file.Close()
	udp, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer udp.Close()
	uf, _ := udp.(*net.UDPConn).File()
	defer uf.Close()
	dgA := unixDgramPair(t)
	out, errw := int(pipeW.Fd()), int(pipeW.Fd())
	certEnv := ipc.ClientCertEnv + "=" + testCertPEM(t)
	good, _ := json.Marshal(ipc.LaunchRequest{Env: []string{certEnv}})
	noCert, _ := json.Marshal(ipc.LaunchRequest{})
	badCert, _ := json.Marshal(ipc.LaunchRequest{Env: []string{ipc.ClientCertEnv + "=-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"}})
	tests := []struct {
		name string
		body []byte
		fds  []int
		want string
	}{
		{"no descriptors", good, nil, "must carry 3 descriptors"},
		{"two descriptors", good, []int{out, errw}, "must carry 3 descriptors"},
		{"fd channel not a socket", good, []int{out, errw, int(pipeR.Fd())}, "must be a unix stream socket (AF_UNIX, SOCK_STREAM), not a pipe"},
		{"fd channel a udp socket", good, []int{out, errw, int(uf.Fd())}, "not a socket (AF_INET, SOCK_DGRAM)"},
		{"fd channel a unix datagram socket", good, []int{out, errw, dgA}, "not a socket (AF_UNIX, SOCK_DGRAM)"},
		{"stdout a regular file", good, []int{int(file.Fd()), errw, int(sf.Fd())}, "stdout descriptor must be a pipe (os.Pipe), not a regular file"},
		{"stderr a socket", good, []int{out, int(sf.Fd()), int(sf.Fd())}, "stderr descriptor must be a pipe (os.Pipe), not a socket (AF_UNIX, SOCK_STREAM)"},
		{"not JSON", []byte("{"), []int{out, errw, int(sf.Fd())}, "malformed launch request"},
		{"bad env value", []byte(`{"env":["PLUGIN_PROTOCOL_VERSIONS=1\u0000"]}`), []int{out, errw, int(sf.Fd())}, "bad value"},
		{"no client certificate", noCert, []int{out, errw, int(sf.Fd())}, "no client certificate"},
		{"client certificate not a certificate", badCert, []int{out, errw, int(sf.Fd())}, "PLUGIN_CLIENT_CERT"},
		// Everything valid: the launcher gets as far as starting the plugin.
		{"valid", good, []int{out, errw, int(sf.Fd())}, "start plugin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := launch(t, sock, tt.body, tt.fds...)
			if !strings.Contains(r.Error, tt.want) {
				t.Fatalf("answer %+v, want an error containing %q", r, tt.want)
			}
		})
	}
}

func TestUnlistedUIDRefused(t *testing.T) {
	sock := startLauncher(t, []int{os.Getuid() + 1})
	r := launch(t, sock, []byte("{}"))
	if want := fmt.Sprintf("uid %d is not allowed", os.Getuid()); !strings.Contains(r.Error, want) {
		t.Fatalf("answer %+v", r)
	}
}

func unixDgramPair(t *testing.T) int {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0]
}

// testCertPEM is a throwaway self-signed certificate, as go-plugin's
// AutoMTLS client sends.
func testCertPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
