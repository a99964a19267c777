package install

import (
	"bytes"
	"encoding/xml"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/packaging/launchd"
	"github.com/kftray-go/kftray/packaging/systemd"
)

// The units must agree with the paths the code uses, and keep the
// hardening the design promises.
func TestUnitsMatchTheCode(t *testing.T) {
	svc, sock := string(systemd.Service), string(systemd.Socket)
	want := []struct{ text, line string }{
		{svc, "ExecStart=" + BinPath + " service"},
		{svc, "NoNewPrivileges=yes"},
		{svc, "ProtectSystem=strict"},
		{svc, "ReadWritePaths=/etc/hosts /run/kftray-helper"},
		{svc, "ProtectHome=yes"},
		{svc, "PrivateTmp=yes"},
		{svc, "KillMode=mixed"},
		{svc, "Requires=" + systemd.SocketUnit},
		{svc, "ExecReload=/bin/kill -HUP $MAINPID"},
		{svc, "MemoryMax=2G"},
		{svc, "TasksMax=1024"},
		{svc, "LimitNOFILE=1024"},
		{sock, "SocketMode=0666"},
		{sock, "SocketUser=root"},
		{string(launchd.Plist), "<string>" + BinPath + "</string>"},
	}
	if runtime.GOOS == "linux" {
		want = append(want, struct{ text, line string }{sock, "ListenStream=" + config.DefaultSocket})
	}
	for _, w := range want {
		found := false
		for _, l := range strings.Split(w.text, "\n") {
			if strings.TrimSpace(l) == w.line {
				found = true
			}
		}
		if !found {
			t.Errorf("missing %q", w.line)
		}
	}
	// The plist is well-formed XML and bounds open files both ways.
	dec := xml.NewDecoder(bytes.NewReader(launchd.Plist))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("launchd plist: %v", err)
		}
	}
	if n := strings.Count(string(launchd.Plist), "<key>NumberOfFiles</key>"); n != 2 {
		t.Errorf("launchd plist sets NumberOfFiles %d times, want soft and hard limits", n)
	}
	if !strings.Contains(svc, "CapabilityBoundingSet=CAP_NET_BIND_SERVICE") {
		t.Error("the service must bound its capabilities")
	}
}
