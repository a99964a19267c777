package helperclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/session"
	"github.com/kftray-go/kftray/ipc"
	"github.com/kftray-go/kftray/ipc/fdpass"
)

// rpcClient serves a real helper session over go-plugin's gRPC test mode
// (in-process, real gRPC over a real socket) with a real fd channel, a temp
// hosts file and a temp pool, and returns the forwarder-side Client.
func rpcClient(t *testing.T, cfg *config.Config) (*Client, string) { return rpcClientTB(t, cfg) }

func rpcClientTB(t testing.TB, cfg *config.Config) (*Client, string) {
	t.Helper()
	dir := t.TempDir()
	hostsPath := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostsPath, []byte("127.0.0.1 localhost\n192.168.0.9 mine.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	local, remote, err := fdpass.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	info, err := session.SelfVersion()
	if err != nil {
		t.Fatal(err)
	}
	s := &session.Session{
		UID: uint32(os.Getuid()), ID: "sess1", Config: cfg,
		Hosts: session.NewHostsFile(cfg, hostsPath, dir, nil),
		Pool:  session.NewPool(cfg, dir),
		FDs:   fdpass.New(remote), Info: info, Log: zerolog.Nop(),
	}
	gc, gs := plugin.TestPluginGRPCConn(t, false, ipc.PluginMap(s)[ipc.ProtocolVersion])
	// Server first: gc.Close asks the server to stop itself, and two
	// concurrent GRPCServer.Stop calls race in go-plugin v1.8.0.
	t.Cleanup(func() { gs.Stop(); gc.Close() })
	raw, err := gc.Dispense(ipc.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	c := newWithHelper(raw.(ipc.Helper), fdpass.New(local))
	t.Cleanup(func() { c.Close(); remote.Close() })
	return c, hostsPath
}

func TestRPCSurface(t *testing.T) {
	ctx := context.Background()
	c, hostsPath := rpcClient(t, &config.Config{AddressPool: "127.77.0.0/24"})

	v, err := c.Version(ctx)
	if err != nil || v.Protocol != ipc.ProtocolVersion || len(v.SHA256) != 64 {
		t.Fatalf("Version = %+v, %v", v, err)
	}

	ip, err := c.AllocateAddress(ctx)
	if err != nil || ip != netip.MustParseAddr("127.77.0.1") {
		t.Fatalf("AllocateAddress = %s, %v", ip, err)
	}
	if err := c.AddLoopbackAlias(ctx, ip); err != nil {
		t.Fatalf("AddLoopbackAlias: %v", err)
	}
	if err := c.AddLoopbackAlias(ctx, netip.MustParseAddr("127.77.0.2")); !errors.Is(err, ipc.ErrPermission) {
		t.Fatalf("alias of an unallocated address: %v", err)
	}

	// A listener arrives as a descriptor and serves a connection.
	ln, err := c.Listen(ctx, "tcp", ip, 18080)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			conn.Write([]byte("hello from a passed listener"))
			conn.Close()
		}
	}()
	conn, err := net.Dial("tcp", "127.77.0.1:18080")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(conn)
	conn.Close()
	if string(got) != "hello from a passed listener" {
		t.Fatalf("read %q", got)
	}

	// UDP too.
	pc, err := c.ListenPacket(ctx, "udp", ip, 18053)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	uc, _ := net.Dial("udp", "127.77.0.1:18053")
	uc.Write([]byte("ping"))
	buf := make([]byte, 16)
	n, _, err := pc.ReadFrom(buf)
	uc.Close()
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("udp read %q %v", buf[:n], err)
	}

	// Bind policy, as the forwarder sees it.
	for _, tt := range []struct {
		name string
		ip   string
		port uint16
		want error
	}{
		{"not loopback", "10.1.2.3", 8080, ipc.ErrInvalid},
		{"unallocated pool address", "127.77.0.9", 8080, ipc.ErrPermission},
		{"other loopback", "127.0.0.53", 53, ipc.ErrPermission},
		{"privileged port on shared loopback", "127.0.0.1", 22, ipc.ErrPermission},
		{"in use", "127.77.0.1", 18080, ipc.ErrConflict},
	} {
		_, err := c.Listen(ctx, "tcp", netip.MustParseAddr(tt.ip), tt.port)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Hosts.
	if err := c.SetHosts(ctx, "web", []ipc.HostEntry{{IP: ip, Names: []string{"web.dev.test"}}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(hostsPath)
	if !strings.Contains(string(b), "web.dev.test # kftray:u") {
		t.Fatalf("hosts file:\n%s", b)
	}
	err = c.SetHosts(ctx, "x", []ipc.HostEntry{{IP: ip, Names: []string{"evil.test\n1.2.3.4 bank.com"}}})
	if !errors.Is(err, ipc.ErrInvalid) || !strings.Contains(err.Error(), "evil.test") {
		t.Fatalf("injection: %v", err)
	}
	if err := c.SetHosts(ctx, "x", []ipc.HostEntry{{IP: ip, Names: []string{"mine.test"}}}); !errors.Is(err, ipc.ErrConflict) {
		t.Fatalf("shadowing: %v", err)
	}
	hs, err := c.ListHosts(ctx)
	if err != nil || len(hs) != 1 || hs[0].Lease != "web" || hs[0].Session != "sess1" || hs[0].Names[0] != "web.dev.test" {
		t.Fatalf("ListHosts = %+v, %v", hs, err)
	}

	if err := c.ReleaseAddress(ctx, ip); err != nil {
		t.Fatal(err)
	}
	if err := c.ReleaseAddress(ctx, ip); !errors.Is(err, ipc.ErrPermission) {
		t.Fatalf("double release: %v", err)
	}
}

func TestNotInstalledNamesTheCommand(t *testing.T) {
	_, err := Dial(context.Background(), Options{Socket: filepath.Join(t.TempDir(), "none.sock")})
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "sudo kftray helper install") {
		t.Fatalf("err = %v", err)
	}
}

func TestRefusesNonRootServer(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("as root the test socket is served by root")
	}
	path := filepath.Join(t.TempDir(), "fake.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			b := make([]byte, 1)
			if n, _ := c.Read(b); n > 0 {
				t.Error("client sent data to a non-root server")
			}
			c.Close()
		}
	}()
	_, err = Dial(context.Background(), Options{Socket: path})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not root") {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkListen measures one helper bind: the gRPC call, the bind, the
// descriptor over the fd channel and net.FileListener, in go-plugin's test
// mode (no launcher, no root).
func BenchmarkListen(b *testing.B) {
	ctx := context.Background()
	c, _ := rpcClientTB(b, &config.Config{AddressPool: "127.77.0.0/24"})
	ip, err := c.AllocateAddress(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ln, err := c.Listen(ctx, "tcp", ip, 18181)
		if err != nil {
			b.Fatal(err)
		}
		ln.Close()
	}
}

func TestListenForwardCleansUp(t *testing.T) {
	ctx := context.Background()
	c, hostsPath := rpcClient(t, &config.Config{AddressPool: "127.77.0.0/24"})
	fl, err := c.ListenForward(ctx, ForwardBind{Network: "tcp", AutoLoopback: true, Port: 18282, Hostnames: []string{"web.dev.test"}, Lease: "cfg7"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(hostsPath); !strings.Contains(string(b), fl.IP.String()) || !strings.Contains(string(b), "web.dev.test") {
		t.Fatalf("hosts:\n%s", b)
	}
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(hostsPath); strings.Contains(string(b), "web.dev.test") {
		t.Fatalf("hosts line left after Close:\n%s", b)
	}
	// The address went back to the pool and the port is free.
	ip, err := c.AllocateAddress(ctx)
	if err != nil || ip != fl.IP {
		t.Fatalf("re-allocate: %s %v", ip, err)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(fl.IP, 18282).String())
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()

	// A refused name leaves nothing behind: no listener, no address.
	_, err = c.ListenForward(ctx, ForwardBind{Network: "tcp", AutoLoopback: true, Port: 18283, Hostnames: []string{"mine.test"}, Lease: "cfg8"})
	if !errors.Is(err, ipc.ErrConflict) {
		t.Fatalf("err = %v", err)
	}
	ip2, _ := c.AllocateAddress(ctx)
	if ip2 != netip.MustParseAddr("127.77.0.2") {
		t.Fatalf("failed ListenForward kept its address: next is %s", ip2)
	}
}

// Concurrent binds: each caller must get its own socket back, whatever
// order the frames arrive in.
func TestConcurrentListensGetTheirOwnSockets(t *testing.T) {
	ctx := context.Background()
	c, _ := rpcClient(t, &config.Config{AddressPool: "127.77.0.0/24"})
	ip, err := c.AllocateAddress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(port uint16) {
			ln, err := c.Listen(ctx, "tcp", ip, port)
			if err != nil {
				errs <- err
				return
			}
			defer ln.Close()
			if got := ln.Addr().(*net.TCPAddr).Port; got != int(port) {
				errs <- fmt.Errorf("asked for port %d, got a listener on %d", port, got)
				return
			}
			errs <- nil
		}(uint16(18400 + i))
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestPortZeroPicksAnEphemeralPort(t *testing.T) {
	ctx := context.Background()
	c, _ := rpcClient(t, &config.Config{})
	ln, err := c.Listen(ctx, "tcp", netip.MustParseAddr("127.0.0.1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if p := ln.Addr().(*net.TCPAddr).Port; p < 1024 {
		t.Fatalf("ephemeral port %d is privileged", p)
	}
}

func TestListenForwardPacketCleansUp(t *testing.T) {
	ctx := context.Background()
	c, hostsPath := rpcClient(t, &config.Config{AddressPool: "127.77.0.0/24"})
	fp, err := c.ListenForwardPacket(ctx, ForwardBind{Network: "udp", AutoLoopback: true, Port: 18290, Hostnames: []string{"dns.dev.test"}, Lease: "cfg9"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fp.LocalAddr().String(), netip.AddrPortFrom(fp.IP, 18290).String(); got != want {
		t.Fatalf("bound %s, want %s", got, want)
	}
	if b, _ := os.ReadFile(hostsPath); !strings.Contains(string(b), fp.IP.String()) || !strings.Contains(string(b), "dns.dev.test") {
		t.Fatalf("hosts:\n%s", b)
	}
	// The socket is a real UDP socket: a datagram sent to it arrives.
	conn, err := net.Dial("udp", fp.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("query")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _, err := fp.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "query" {
		t.Fatalf("ReadFrom = %q, %v", buf[:n], err)
	}
	if _, ok := fp.Unwrap().(*net.UDPConn); !ok {
		t.Fatalf("Unwrap = %T, want *net.UDPConn", fp.Unwrap())
	}
	// Closing the socket first (as the relay client does) and the
	// forward after still releases everything, without an error.
	fp.Unwrap().Close()
	if err := fp.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(hostsPath); strings.Contains(string(b), "dns.dev.test") {
		t.Fatalf("hosts line left after Close:\n%s", b)
	}
	ip, err := c.AllocateAddress(ctx)
	if err != nil || ip != fp.IP {
		t.Fatalf("re-allocate: %s %v", ip, err)
	}
	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(fp.IP, 18290).String())
	if err != nil {
		t.Fatal(err)
	}
	pc.Close()

	// A refused name leaves nothing behind: no socket, no address.
	c.ReleaseAddress(ctx, ip)
	_, err = c.ListenForwardPacket(ctx, ForwardBind{Network: "udp", AutoLoopback: true, Port: 18292, Hostnames: []string{"mine.test"}, Lease: "cfg10"})
	if !errors.Is(err, ipc.ErrConflict) {
		t.Fatalf("err = %v", err)
	}
	if ip2, _ := c.AllocateAddress(ctx); ip2 != fp.IP {
		t.Fatalf("failed ListenForwardPacket kept its address: next is %s, want %s", ip2, fp.IP)
	}
	pc, err = net.ListenPacket("udp", netip.AddrPortFrom(fp.IP, 18292).String())
	if err != nil {
		t.Fatalf("failed ListenForwardPacket kept its socket: %v", err)
	}
	pc.Close()

	// TCP is not a packet network.
	if _, err := c.ListenForwardPacket(ctx, ForwardBind{Network: "tcp", Port: 18291}); err == nil || !strings.Contains(err.Error(), "want udp") {
		t.Fatalf("tcp through ListenForwardPacket: %v", err)
	}
}
