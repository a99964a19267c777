// Command leanclient is the smallest client of the kftray daemon a TUI or
// an MCP server would be: it starts the daemon when none runs (by running
// kftray), lists the forwards and follows the event stream. TestDeps checks
// what it links; it is not shipped.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/kftray-go/kftray/localapi"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: leanclient CONFIG-DIR")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir := os.Args[1]
	cmd, err := localapi.DaemonCommand("", dir, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, _, err := localapi.Ensure(ctx, localapi.EnsureOptions{Dir: dir, Command: cmd})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	fws, err := c.Forwards(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, f := range fws {
		fmt.Println(f.Name, f.Status, f.Address)
	}
	err = c.Events(ctx, func(ev localapi.Event) error {
		if ev.Forward != nil {
			fmt.Println(ev.Type, ev.Forward.Name, ev.Forward.Status)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
