// Command hostile is an allowed (or not) local user misusing the helper, for
// the privileged hardening tests. It reports what happened on stdout, one
// line per result, and never asserts anything itself.
//
//	hostile keep SOCKET NAME         allocate, bind tcp :80, name it NAME, end
//	                                 the session but keep the socket; print
//	                                 "KEPT ip"; then for each stdin line
//	                                 "name N" try naming ip N from a new
//	                                 session: "OK" or "REFUSED err"
//	hostile alloc SOCKET             allocate; print "ADDR ip"; wait for stdin EOF
//	hostile originate SOCKET PORT    bind tcp :80 on an allocated address through
//	                                 the helper, disconnect it (AF_UNSPEC) and
//	                                 connect to 127.0.0.1:PORT from it: print
//	                                 "CONNECTED from" or "BLOCKED err"
//	hostile udp SOCKET PORT          bind udp PORT on an allocated address:
//	                                 "BOUND" or "REFUSED err"
//	hostile launch SOCKET KIND       a hand-made launch request (KIND nocert,
//	                                 badstdout, udpchan, hold, stream): prints
//	                                 the launcher's answer and what followed
//	hostile connect PATH             connect to a unix socket: "CONNECTED" or
//	                                 "REFUSED err"
//	hostile tls-nocert PATH          TLS to a session socket without a client
//	                                 certificate: "SERVED" or "REFUSED err"
//	hostile hold SOCKET              open a session; "READY"; "ENDED" when the
//	                                 helper ends it
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/ipc"
	"github.com/kftray-go/kftray/ipc/fdpass"
	"github.com/kftray-go/kftray/ipc/helperclient"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
}

func waitStdin() {
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
	}
}

func dial(socket string) (*helperclient.Client, error) {
	return helperclient.Dial(context.Background(), helperclient.Options{Socket: socket})
}

// session dials the helper and allocates an address; the caller closes c.
func session(ctx context.Context, socket string) (*helperclient.Client, netip.Addr, error) {
	c, err := dial(socket)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	ip, err := c.AllocateAddress(ctx)
	if err != nil {
		c.Close()
		return nil, netip.Addr{}, err
	}
	return c, ip, nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

func run(args []string) error {
	ctx := context.Background()
	switch args[0] {
	case "keep":
		c, ip, err := session(ctx, args[1])
		if err != nil {
			return err
		}
		ln, err := c.Listen(ctx, "tcp", ip, 80)
		if err != nil {
			return err
		}
		defer ln.Close()
		if err := c.SetHosts(ctx, "keep", []ipc.HostEntry{{IP: ip, Names: []string{args[2]}}}); err != nil {
			return err
		}
		c.Close() // the session ends; the socket stays ours
		fmt.Println("KEPT", ip)
		s := bufio.NewScanner(os.Stdin)
		for s.Scan() {
			name, ok := strings.CutPrefix(s.Text(), "name ")
			if !ok {
				continue
			}
			c2, err := dial(args[1])
			if err != nil {
				return err
			}
			if err := c2.SetHosts(ctx, "again", []ipc.HostEntry{{IP: ip, Names: []string{name}}}); err != nil {
				fmt.Println("REFUSED", oneLine(err))
			} else {
				fmt.Println("OK")
			}
			c2.Close()
		}
		return nil
	case "alloc":
		c, ip, err := session(ctx, args[1])
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Println("ADDR", ip)
		waitStdin()
		return nil
	case "originate":
		return originate(args[1], args[2])
	case "udp":
		c, ip, err := session(ctx, args[1])
		if err != nil {
			return err
		}
		defer c.Close()
		port, _ := strconv.Atoi(args[2])
		pc, err := c.ListenPacket(ctx, "udp", ip, uint16(port))
		if err != nil {
			fmt.Println("REFUSED", oneLine(err))
			return nil
		}
		pc.Close()
		fmt.Println("BOUND", netip.AddrPortFrom(ip, uint16(port)))
		return nil
	case "launch":
		return launch(args[1], args[2])
	case "connect":
		c, err := net.Dial("unix", args[1])
		if err != nil {
			fmt.Println("REFUSED", oneLine(err))
			return nil
		}
		c.Close()
		fmt.Println("CONNECTED")
		return nil
	case "tls-nocert":
		c, err := net.Dial("unix", args[1])
		if err != nil {
			fmt.Println("REFUSED", oneLine(err))
			return nil
		}
		defer c.Close()
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"h2"}})
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3: the server judges the (missing) client certificate
			// after the client's handshake is done; its verdict arrives as
			// an alert on the first read.
			_, err = tc.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
			if err == nil {
				var b [64]byte
				_, err = tc.Read(b[:])
			}
		}
		if err != nil {
			fmt.Println("REFUSED", oneLine(err))
			return nil
		}
		fmt.Println("SERVED")
		return nil
	case "hold":
		c, err := dial(args[1])
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Println("READY")
		<-c.Done()
		fmt.Println("ENDED")
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// originate tries the rsh-style trick: a privileged-port socket from the
// helper, turned from a listener back into a connectable socket.
func originate(socket, port string) error {
	ctx := context.Background()
	c, ip, err := session(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	ln, err := c.Listen(ctx, "tcp", ip, 80)
	if err != nil {
		return err
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	unix.SetNonblock(fd, false)
	// connect(AF_UNSPEC) disconnects: a listener becomes a closed socket
	// that keeps its bound address and port.
	var unspec [16]byte // sa_family AF_UNSPEC (0), rest zero
	if _, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec[0])), uintptr(len(unspec))); e != 0 {
		fmt.Println("BLOCKED disconnect:", e)
		return nil
	}
	// One SYN retransmission: a handshake that cannot complete gives up
	// (ETIMEDOUT) after ~3 s instead of two minutes.
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_SYNCNT, 1)
	p, _ := strconv.Atoi(port)
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: p, Addr: [4]byte{127, 0, 0, 1}})
	if err != nil {
		fmt.Println("BLOCKED", err)
		return nil
	}
	sa, _ := unix.Getsockname(fd)
	if in, ok := sa.(*unix.SockaddrInet4); ok {
		fmt.Println("CONNECTED from", netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port)))
	} else {
		fmt.Println("CONNECTED")
	}
	return nil
}

func clientCertPEM() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		IsCA:        true, BasicConstraintsValid: true, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

// launch speaks the launcher protocol by hand, the way a hostile client
// would, instead of through helperclient.
func launch(socket, kind string) error {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return err
	}
	uc := conn.(*net.UnixConn)
	defer uc.Close()
	env := []string{
		ipc.Handshake.MagicCookieKey + "=" + ipc.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=" + strconv.Itoa(ipc.ProtocolVersion),
	}
	if kind != "nocert" {
		cert, err := clientCertPEM()
		if err != nil {
			return err
		}
		env = append(env, "PLUGIN_CLIENT_CERT="+cert)
	}
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	go func() { // keep the plugin's stderr from filling up
		b := make([]byte, 4096)
		for {
			if _, err := errR.Read(b); err != nil {
				return
			}
		}
	}()
	local, remote, err := fdpass.Socketpair()
	if err != nil {
		return err
	}
	defer local.Close()
	rf, _ := remote.File()
	out, chanFD := int(outW.Fd()), int(rf.Fd())
	switch kind {
	case "badstdout":
		f, err := os.CreateTemp("", "hostile-stdout-")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		out = int(f.Fd())
	case "udpchan":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer pc.Close()
		uf, _ := pc.(*net.UDPConn).File()
		defer uf.Close()
		chanFD = int(uf.Fd())
	}
	body, _ := json.Marshal(ipc.LaunchRequest{Env: env})
	fc := fdpass.New(uc)
	werr := fc.Write(body, out, int(errW.Fd()), chanFD)
	outW.Close()
	errW.Close()
	rf.Close()
	remote.Close()
	uc.SetReadDeadline(time.Now().Add(20 * time.Second))
	rb, fds, err := fc.Read()
	fdpass.CloseFDs(fds)
	uc.SetReadDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("no answer from the launcher (send: %v): %w", werr, err)
	}
	var resp ipc.LaunchResponse
	if err := json.Unmarshal(rb, &resp); err != nil {
		return err
	}
	if resp.Error != "" {
		fmt.Println("REFUSED", resp.Error)
		return nil
	}
	fmt.Println("LAUNCHED", resp.PID)
	switch kind {
	case "stream":
		return stream(uc)
	case "nocert", "hold":
		line, err := readLine(outR, 20*time.Second)
		if err != nil {
			fmt.Println("NO HANDSHAKE", err)
			return nil
		}
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 6 {
			fmt.Println("BAD HANDSHAKE", line)
			return nil
		}
		tlsState := "mtls"
		if f[5] == "" {
			tlsState = "plaintext"
		}
		fmt.Println("SERVED", f[2], f[3], tlsState)
		if kind == "hold" {
			waitStdin()
		}
	}
	return nil
}

// stream sends garbage after the launch until the launcher hangs up, for
// at most 64 MiB or 20 s.
func stream(c *net.UnixConn) error {
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(i)
	}
	deadline := time.Now().Add(20 * time.Second)
	c.SetWriteDeadline(deadline)
	total := 0
	for total < 64<<20 && time.Now().Before(deadline) {
		n, err := c.Write(junk)
		total += n
		if err != nil {
			if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
				fmt.Println("DISCONNECTED after", total, "bytes:", err)
				return nil
			}
			fmt.Println("STILL CONNECTED after", total, "bytes:", err)
			return nil
		}
	}
	fmt.Println("STILL CONNECTED after", total, "bytes")
	return nil
}

func readLine(f *os.File, within time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := bufio.NewReader(f).ReadString('\n')
		ch <- res{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(within):
		return "", errors.New("timed out")
	}
}
