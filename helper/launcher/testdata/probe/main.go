// Command probe is the forwarder side of the privileged launcher tests. It
// runs as an unprivileged user and reports what happened on stdout.
//
//	probe bind-direct IP:PORT       try a direct bind, print "OK" or the errno
//	probe expect-version SOCKET V   open a session requiring helper version V
//	probe session SOCKET NAME PORT  open a session, listen on an allocated
//	                                address, set NAME in hosts, print
//	                                "READY ip:port pid session-start first-listen per-listen", serve until stdin closes
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/kftray-go/kftray/ipc"
	"github.com/kftray-go/kftray/ipc/helperclient"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch args[0] {
	case "bind-direct":
		ln, err := net.Listen("tcp", args[1])
		if err != nil {
			if errors.Is(err, syscall.EACCES) {
				fmt.Println("EACCES")
				return nil
			}
			return err
		}
		ln.Close()
		fmt.Println("OK")
		return nil
	case "expect-version":
		c, err := helperclient.Dial(context.Background(), helperclient.Options{Socket: args[1], ExpectVersion: args[2]})
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Println("OK", c.Info().Version)
		return nil
	case "session":
		ctx := context.Background()
		t0 := time.Now()
		c, err := helperclient.Dial(ctx, helperclient.Options{Socket: args[1]})
		if err != nil {
			return err
		}
		dialed := time.Since(t0)
		defer c.Close()
		port, _ := strconv.Atoi(args[3])
		ip, err := c.AllocateAddress(ctx)
		if err != nil {
			return err
		}
		t1 := time.Now()
		ln, err := c.Listen(ctx, "tcp", ip, uint16(port))
		if err != nil {
			return err
		}
		listened := time.Since(t1)
		if err := c.SetHosts(ctx, "probe", []ipc.HostEntry{{IP: ip, Names: []string{args[2]}}}); err != nil {
			return err
		}
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				// Enough HTTP for curl: read the request head, answer, close.
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				fmt.Fprintf(conn, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nserved by uid %d\n", os.Getuid())
				conn.Close()
			}
		}()
		// Steady-state cost of one bind through the helper (listen + close).
		const n = 200
		t2 := time.Now()
		for i := 0; i < n; i++ {
			l, err := c.Listen(ctx, "tcp", ip, uint16(port+1))
			if err != nil {
				return err
			}
			l.Close()
		}
		perBind := time.Since(t2) / n
		fmt.Println("READY", netip.AddrPortFrom(ip, uint16(port)), os.Getpid(), dialed, listened, perBind)
		// Serve until the test closes our stdin (a clean exit) or kills us.
		s := bufio.NewScanner(os.Stdin)
		for s.Scan() {
		}
		return nil
	}
	return fmt.Errorf("unknown probe command %q", args[0])
}
