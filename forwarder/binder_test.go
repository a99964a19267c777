package forwarder

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
)

func TestDirectBinderListenPacket(t *testing.T) {
	privileged := unprivilegedPortStart() <= 53 || os.Geteuid() == 0
	tests := []struct {
		name       string
		req        BindRequest
		needHelper bool   // errors.Is(err, ErrNeedsHelper)
		errHas     string // substring of the error; "" means success
	}{
		{"high port on 127.0.0.1", BindRequest{Network: "udp"}, false, ""},
		{"udp4", BindRequest{Network: "udp4", IP: "127.0.0.1"}, false, ""},
		{"low port", BindRequest{Network: "udp", Port: 53}, true, "ports below"},
		{"allocated address", BindRequest{Network: "udp", AutoLoopback: true}, true, "allocated loopback address"},
		{"hostnames", BindRequest{Network: "udp", Hostnames: []string{"dns.dev.test"}}, true, "hostnames in /etc/hosts"},
		{"tcp is not a packet network", BindRequest{Network: "tcp", Port: 5353}, false, `network "tcp" is not a packet network`},
		{"not an address", BindRequest{Network: "udp", IP: "dns.invalid"}, false, "listen on udp dns.invalid:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Port == 53 && privileged {
				t.Skip("this user may bind port 53")
			}
			pc, err := DirectBinder{}.ListenPacket(context.Background(), tt.req)
			if tt.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				pc.Close()
				return
			}
			if pc != nil {
				pc.Close()
				t.Fatalf("bound %s, want an error", pc.LocalAddr())
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.errHas)
			}
			if got := errors.Is(err, ErrNeedsHelper); got != tt.needHelper {
				t.Fatalf("errors.Is(%v, ErrNeedsHelper) = %v, want %v", err, got, tt.needHelper)
			}
			if tt.needHelper && !strings.Contains(err.Error(), HelperInstallCommand) {
				t.Fatalf("err = %v: does not say how to install the helper", err)
			}
		})
	}
}

func TestDirectBinderListenPacketInUse(t *testing.T) {
	pc, err := DirectBinder{}.ListenPacket(context.Background(), BindRequest{Network: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_, err = DirectBinder{}.ListenPacket(context.Background(), BindRequest{Network: "udp", Port: port})
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "local_port") {
		t.Fatalf("second bind of port %d: %v", port, err)
	}
}
