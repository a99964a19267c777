package daemon

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// BenchmarkAPIStatus is one request/answer over the unix socket, peer
// credential check included.
func BenchmarkAPIStatus(b *testing.B) {
	dir := shortDir(b)
	c, _ := benchDaemon(b, dir)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAPIForwards100 lists 100 configs with their states (what
// `kftray status` and the UIs do).
func BenchmarkAPIForwards100(b *testing.B) {
	dir := shortDir(b)
	st := openStore(b, dir)
	for i := range 100 {
		cfg := fwdconfig.Config{Alias: fmt.Sprintf("svc-%d", i), Namespace: "default", WorkloadType: "service",
			Protocol: "tcp", Service: "web", RemotePort: 80}
		if err := st.AddConfig(context.Background(), &cfg); err != nil {
			b.Fatal(err)
		}
	}
	c, _ := benchDaemon(b, dir)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		fs, err := c.Forwards(ctx)
		if err != nil || len(fs) != 100 {
			b.Fatal(len(fs), err)
		}
	}
}

// BenchmarkStartToRunningStop: `kftray start web` until the forward is
// connected to its pod, then `kftray stop web`, through the API and the
// in-process cluster.
func BenchmarkStartToRunningStop(b *testing.B) {
	dir := shortDir(b)
	addWeb(b, dir)
	c, _ := benchDaemon(b, dir)
	ctx := context.Background()
	sel := localapi.Selection{Refs: []string{"web"}}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Start(ctx, sel); err != nil {
			b.Fatal(err)
		}
		for {
			f, err := c.Forward(ctx, "web")
			if err != nil {
				b.Fatal(err)
			}
			if f.Status == localapi.StatusRunning {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if _, err := c.Stop(ctx, sel); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDaemonColdStart: a new daemon process until it answers on its
// socket (what `kftray start` waits for the first time), and its SIGTERM.
func BenchmarkDaemonColdStart(b *testing.B) {
	dir := shortDir(b)
	for b.Loop() {
		cmd, out := startChild(b, dir)
		c := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
		for {
			if st, err := c.Status(context.Background()); err == nil && st.PID == cmd.Process.Pid {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		c.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		b.StartTimer()
	}
}

func benchDaemon(b *testing.B, dir string) (*localapi.Client, localapi.Status) {
	b.Helper()
	w := testWorld(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan localapi.Status, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, Log: zerolog.Nop(), Engine: w.engine(), Ready: func(s localapi.Status) { ready <- s }})
	}()
	var st localapi.Status
	select {
	case st = <-ready:
	case err := <-done:
		b.Fatal(err)
	}
	c := localapi.NewUnixClient(st.Socket)
	b.Cleanup(func() { c.Close(); cancel(); <-done })
	return c, st
}
