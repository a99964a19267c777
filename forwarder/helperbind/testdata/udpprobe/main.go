// Command udpprobe is the forwarder side of helperbind's privileged UDP
// test. It runs as an unprivileged user and reports on stdout.
//
//	udpprobe direct IP PORT        bind udp IP:PORT with forwarder.DirectBinder,
//	                               print "OK", or "NEEDS-HELPER <error>"
//	udpprobe raw IP PORT           bind udp IP:PORT with the socket API, print
//	                               "OK" or "EACCES"
//	udpprobe refused SOCKET NAME   ask the helper for udp port 53 named NAME, which
//	                               it must refuse; print "REFUSED nil-conn=BOOL ERROR"
//	udpprobe helper SOCKET NAME    bind udp port 53 on an allocated address with
//	                               the name NAME through helperbind.Binder, print
//	                               "READY ip:port first per-forward" (first: session
//	                               start and bind; per-forward: a full UDP forward
//	                               bind and release through the helper, allocated
//	                               address and hosts line included), answer each datagram with
//	                               "uid U got PAYLOAD" until stdin closes, then
//	                               close the socket and print "CLOSED"
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/helperbind"
	"github.com/kftray-go/kftray/ipc/helperclient"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx := context.Background()
	switch args[0] {
	case "direct":
		port, _ := strconv.Atoi(args[2])
		pc, err := forwarder.DirectBinder{}.ListenPacket(ctx, forwarder.BindRequest{Network: "udp", IP: args[1], Port: port})
		if errors.Is(err, forwarder.ErrNeedsHelper) {
			fmt.Println("NEEDS-HELPER", err)
			return nil
		}
		if err != nil {
			return err
		}
		pc.Close()
		fmt.Println("OK")
		return nil
	case "raw":
		pc, err := net.ListenPacket("udp", net.JoinHostPort(args[1], args[2]))
		if errors.Is(err, syscall.EACCES) {
			fmt.Println("EACCES")
			return nil
		}
		if err != nil {
			return err
		}
		pc.Close()
		fmt.Println("OK")
		return nil
	case "refused":
		b := &helperbind.Binder{Options: helperclient.Options{Socket: args[1]}}
		defer b.Close()
		pc, err := b.ListenPacket(ctx, forwarder.BindRequest{
			ConfigID: 54, Network: "udp", AutoLoopback: true, Port: 53, Hostnames: []string{args[2]},
		})
		if err == nil {
			pc.Close()
			return fmt.Errorf("the helper bound udp %s for the name %q", pc.LocalAddr(), args[2])
		}
		fmt.Println("REFUSED", fmt.Sprintf("nil-conn=%v", pc == nil), err)
		return nil
	case "helper":
		b := &helperbind.Binder{Options: helperclient.Options{Socket: args[1]}}
		defer b.Close()
		t0 := time.Now()
		pc, err := b.ListenPacket(ctx, forwarder.BindRequest{
			ConfigID: 53, Network: "udp", AutoLoopback: true, Port: 53, Hostnames: []string{args[2]},
		})
		if err != nil {
			return err
		}
		first := time.Since(t0)
		const n = 50
		t1 := time.Now()
		for i := range n {
			p, err := b.ListenPacket(ctx, forwarder.BindRequest{
				ConfigID: 1000 + int64(i), Network: "udp", AutoLoopback: true, Port: 53, Hostnames: []string{"bench." + args[2]},
			})
			if err != nil {
				return err
			}
			if err := p.Close(); err != nil {
				return err
			}
		}
		fmt.Println("READY", pc.LocalAddr(), first, time.Since(t1)/n)
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(fmt.Appendf(nil, "uid %d got %s", os.Getuid(), buf[:n]), from)
			}
		}()
		s := bufio.NewScanner(os.Stdin)
		for s.Scan() {
		}
		if err := pc.Close(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
		fmt.Println("CLOSED")
		return nil
	}
	return fmt.Errorf("unknown udpprobe command %q", args[0])
}
