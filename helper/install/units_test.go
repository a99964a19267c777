package install

import (
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
	if !strings.Contains(svc, "CapabilityBoundingSet=CAP_NET_BIND_SERVICE") {
		t.Error("the service must bound its capabilities")
	}
}
