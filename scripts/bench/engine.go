package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/tunnel"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/ipc/helperclient"
)

// The engine runs in a child process (`bench engine`), like kubectl does,
// so that its CPU time and RSS are its own and the load generator does not
// share its Go scheduler. The parent speaks JSON lines over stdin/stdout.

// engineGroup is one Manager: a transport, an optional helper socket for
// privileged binds, and its configs.
type engineGroup struct {
	Transport    tunnel.Transport   `json:"transport"`
	HelperSocket string             `json:"helper_socket,omitempty"`
	Configs      []fwdconfig.Config `json:"configs"`
}

// engineCmd is a message from the parent.
type engineCmd struct {
	Cmd     string        `json:"cmd"` // start | profile-start | profile-stop | heap-profile | gc
	Groups  []engineGroup `json:"groups,omitempty"`
	Path    string        `json:"path,omitempty"`    // profile-start, heap-profile
	Timeout time.Duration `json:"timeout,omitempty"` // start: bound on reaching running
}

// engineReply answers each command, in order.
type engineReply struct {
	Err       string            `json:"err,omitempty"`
	StartedMS float64           `json:"started_ms,omitempty"` // Start returned (all listening)
	ReadyMS   float64           `json:"ready_ms,omitempty"`   // all running
	Addrs     map[int64]string  `json:"addrs,omitempty"`      // config id → bound address
	Pods      map[int64]string  `json:"pods,omitempty"`
	Phases    map[string]int    `json:"phases,omitempty"` // when not all became running
	HeapInuse uint64            `json:"heap_inuse,omitempty"`
	Sys       uint64            `json:"sys,omitempty"`
	Goroutine int               `json:"goroutines,omitempty"`
	Extra     map[string]string `json:"extra,omitempty"`
}

// runEngine is the child's main loop; it returns when stdin closes.
func runEngine() error {
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	in := json.NewDecoder(bufio.NewReader(os.Stdin))
	out := json.NewEncoder(os.Stdout)
	var managers []*forwarder.Manager
	var helpers []*helperclient.Client
	defer func() {
		for _, m := range managers {
			m.StopAll()
		}
		for _, h := range helpers {
			h.Close()
		}
	}()
	// Hello: the parent reads the idle RSS after this.
	if err := out.Encode(engineReply{}); err != nil {
		return err
	}
	for {
		var cmd engineCmd
		if err := in.Decode(&cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("engine: read command: %w", err)
		}
		var rep engineReply
		switch cmd.Cmd {
		case "start":
			ms, hs, r := engineStart(cmd, log)
			managers = append(managers, ms...)
			helpers = append(helpers, hs...)
			rep = r
		case "profile-start":
			f, err := os.Create(cmd.Path)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				rep.Err = err.Error()
			}
		case "profile-stop":
			pprof.StopCPUProfile()
		case "heap-profile":
			runtime.GC()
			f, err := os.Create(cmd.Path)
			if err == nil {
				err = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				rep.Err = err.Error()
			}
		case "gc":
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			rep.HeapInuse, rep.Sys, rep.Goroutine = ms.HeapInuse, ms.Sys, runtime.NumGoroutine()
		default:
			rep.Err = "unknown command " + cmd.Cmd
		}
		if err := out.Encode(rep); err != nil {
			return err
		}
	}
}

func engineStart(cmd engineCmd, log zerolog.Logger) ([]*forwarder.Manager, []*helperclient.Client, engineReply) {
	var rep engineReply
	if cmd.Timeout <= 0 {
		cmd.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmd.Timeout)
	defer cancel()
	var (
		managers []*forwarder.Manager
		helpers  []*helperclient.Client
		errs     []error
	)
	for _, g := range cmd.Groups {
		opts := forwarder.Options{Logger: log, Transport: g.Transport}
		if g.HelperSocket != "" {
			hc, err := helperclient.Dial(ctx, helperclient.Options{Socket: g.HelperSocket})
			if err != nil {
				rep.Err = fmt.Sprintf("helper session on %s: %v", g.HelperSocket, err)
				return managers, helpers, rep
			}
			helpers = append(helpers, hc)
			opts.Binder = helperBinder{hc}
		}
		managers = append(managers, forwarder.NewManager(opts))
	}
	// Every group starts at once: this is what "200 forwards started at
	// once" times.
	t0 := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, g := range cmd.Groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := managers[i].Start(ctx, g.Configs...); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.StartedMS = ms(time.Since(t0))
	if err := errors.Join(errs...); err != nil {
		rep.Err = err.Error()
		return managers, helpers, rep
	}
	want := 0
	for _, g := range cmd.Groups {
		want += len(g.Configs)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		running := 0
		phases := map[string]int{}
		rep.Addrs, rep.Pods = map[int64]string{}, map[int64]string{}
		for _, m := range managers {
			for _, s := range m.States() {
				phases[string(s.Phase)]++
				if s.Phase == forwarder.Running {
					running++
				}
				rep.Addrs[s.ID], rep.Pods[s.ID] = s.Address, s.Pod
			}
		}
		if running == want {
			rep.ReadyMS = ms(time.Since(t0))
			return managers, helpers, rep
		}
		select {
		case <-ctx.Done():
			rep.Err = fmt.Sprintf("%d of %d forwards running after %v", running, want, cmd.Timeout)
			rep.Phases = phases
			return managers, helpers, rep
		case <-tick.C:
		}
	}
}

// helperBinder binds through the root helper: an allocated loopback address
// (or the given one), any port the helper's policy allows, hosts entries.
type helperBinder struct{ c *helperclient.Client }

func (b helperBinder) Listen(ctx context.Context, req forwarder.BindRequest) (net.Listener, error) {
	fb := helperclient.ForwardBind{
		Network: req.Network, AutoLoopback: req.AutoLoopback, Port: uint16(req.Port),
		Hostnames: req.Hostnames, Lease: fmt.Sprintf("cfg%d", req.ConfigID),
	}
	if req.IP != "" {
		ip, err := netip.ParseAddr(req.IP)
		if err != nil {
			return nil, fmt.Errorf("local_address %q: %w", req.IP, err)
		}
		fb.IP = ip
	}
	return b.c.ListenForward(ctx, fb)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
