// Command hostsprobe is an allowed user attacking the hosts file through
// the helper, for the privileged hosts tests. It runs unprivileged.
//
//	hostsprobe shrink-and-exit SOCKET GROW SHRINK   grow the block to GROW names, then
//	                                                send SHRINK other names and exit
//	                                                while the helper writes them
//	hostsprobe shrink-on-cue SOCKET GROW SHRINK     grow, print "READY <grow time>",
//	                                                send SHRINK names on a stdin line,
//	                                                print what came back, exit at EOF
//	hostsprobe hold SOCKET NAME...                  set NAMEs, print "READY", keep them
//	                                                until stdin closes
//	hostsprobe set SOCKET NAME...                   SetHosts each name on its own
//	                                                lease: "NAME OK" or "NAME REFUSED err"
package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
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

// names are long (about 200 bytes each): a big block, few names (txeh's
// rendering time grows with the square of the names).
func names(prefix string, n int) []string {
	label := strings.Repeat("x", 60)
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d.%s.%s.%s.dev.test", prefix, i, label, label, label)
	}
	return out
}

// session dials the helper and allocates an address; the caller closes c.
func session(ctx context.Context, socket string) (*helperclient.Client, netip.Addr, error) {
	c, err := helperclient.Dial(ctx, helperclient.Options{Socket: socket})
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

func grow(ctx context.Context, socket string, n int) (*helperclient.Client, netip.Addr, time.Duration, error) {
	c, ip, err := session(ctx, socket)
	if err != nil {
		return nil, ip, 0, err
	}
	t0 := time.Now()
	if err := c.SetHosts(ctx, "churn", []ipc.HostEntry{{IP: ip, Names: names("grown", n)}}); err != nil {
		return nil, ip, 0, err
	}
	return c, ip, time.Since(t0), nil
}

func run(args []string) error {
	ctx := context.Background()
	switch args[0] {
	case "shrink-and-exit":
		g, _ := strconv.Atoi(args[2])
		sh, _ := strconv.Atoi(args[3])
		c, ip, took, err := grow(ctx, args[1], g)
		if err != nil {
			return err
		}
		go c.SetHosts(ctx, "churn", []ipc.HostEntry{{IP: ip, Names: names("shrunk", sh)}})
		// Exit somewhere in the shrinking write (it costs about what the
		// growing one did): the kernel closes the launcher connection,
		// which ends the session.
		time.Sleep(time.Duration(rand.Int64N(int64(took) + 1)))
		os.Exit(0)
	case "hold":
		c, ip, err := session(ctx, args[1])
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetHosts(ctx, "hold", []ipc.HostEntry{{IP: ip, Names: args[2:]}}); err != nil {
			return err
		}
		fmt.Println("READY")
		for s := bufio.NewScanner(os.Stdin); s.Scan(); {
		}
		return nil
	case "shrink-on-cue":
		g, _ := strconv.Atoi(args[2])
		sh, _ := strconv.Atoi(args[3])
		c, ip, took, err := grow(ctx, args[1], g)
		if err != nil {
			return err
		}
		fmt.Println("READY", int64(took))
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			err := c.SetHosts(ctx, "churn", []ipc.HostEntry{{IP: ip, Names: names("shrunk", sh)}})
			fmt.Println("SET", err)
		}
		return nil
	case "set":
		c, ip, err := session(ctx, args[1])
		if err != nil {
			return err
		}
		defer c.Close()
		for i, n := range args[2:] {
			err := c.SetHosts(ctx, "l"+strconv.Itoa(i), []ipc.HostEntry{{IP: ip, Names: []string{n}}})
			if err != nil {
				fmt.Println(n, "REFUSED", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Println(n, "OK")
			}
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}
