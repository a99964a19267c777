package peercred

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestGetReportsOurOwnIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	for _, c := range []*net.UnixConn{client, server} {
		cred, err := Get(c)
		if err != nil {
			t.Fatal(err)
		}
		if int(cred.UID) != os.Geteuid() || int(cred.GID) != os.Getegid() {
			t.Fatalf("cred %+v, want uid %d gid %d", cred, os.Geteuid(), os.Getegid())
		}
		if cred.PID != 0 && int(cred.PID) != os.Getpid() {
			t.Fatalf("pid %d, want %d", cred.PID, os.Getpid())
		}
	}
}
