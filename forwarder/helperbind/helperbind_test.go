package helperbind

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/ipc/helperclient"
)

func TestDirectFirstThenHelper(t *testing.T) {
	b := &Binder{Options: helperclient.Options{Socket: filepath.Join(t.TempDir(), "absent.sock")}}
	defer b.Close()
	ctx := context.Background()

	// A high port on 127.0.0.1 needs no helper.
	ln, err := b.Listen(ctx, forwarder.BindRequest{Network: "tcp", IP: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()

	// Hostnames do; without a helper the error says how to get one.
	_, err = b.Listen(ctx, forwarder.BindRequest{Network: "tcp", AutoLoopback: true, Port: 80, Hostnames: []string{"web.dev.test"}})
	if !errors.Is(err, forwarder.ErrNeedsHelper) || !strings.Contains(err.Error(), "sudo kftray helper install") {
		t.Fatalf("err = %v", err)
	}
}

func TestListenPacketDirectFirstThenHelper(t *testing.T) {
	b := &Binder{Options: helperclient.Options{Socket: filepath.Join(t.TempDir(), "absent.sock")}}
	defer b.Close()
	ctx := context.Background()

	pc, err := b.ListenPacket(ctx, forwarder.BindRequest{Network: "udp", IP: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	pc.Close()

	_, err = b.ListenPacket(ctx, forwarder.BindRequest{Network: "udp", AutoLoopback: true, Port: 53, Hostnames: []string{"dns.dev.test"}})
	if !errors.Is(err, forwarder.ErrNeedsHelper) || !strings.Contains(err.Error(), "sudo kftray helper install") || !strings.Contains(err.Error(), "udp") {
		t.Fatalf("err = %v", err)
	}
}
