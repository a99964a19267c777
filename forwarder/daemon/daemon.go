package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/httpapi"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/buildinfo"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// DefaultHTTPAddr is where the token-protected TCP API listens: loopback,
// a port picked at start (written to api.addr).
const DefaultHTTPAddr = "127.0.0.1:0"

// Options configure a daemon.
type Options struct {
	Dir string // config directory (configs.db, socket, lock, ...)
	Log zerolog.Logger
	// HTTPAddr is the loopback host:port of the TCP API; "" turns it off.
	HTTPAddr string
	// Engine options for the forwards (binder, backoff, cluster loading).
	Engine forwarder.Options
	// CounterPeriod is how often counters are written to the store;
	// default 1 s.
	CounterPeriod time.Duration
	// Ready, if set, is called once the API is listening and the
	// restore has been started.
	Ready func(localapi.Status)
	// ShutdownTimeout bounds how long requests in flight may take to
	// finish when the daemon stops; default 5 s. Stopping the forwards
	// and writing their states has time of its own after that.
	ShutdownTimeout time.Duration
	// RelaySweepEvery is how often relays left by dead kftray processes
	// are looked for and deleted (also once at start); default 5 min.
	RelaySweepEvery time.Duration
	// HelperProbe inspects the installed root helper for GET /v1/helper
	// (the CLI passes what `kftray helper status` computes); nil: the
	// daemon says it cannot tell.
	HelperProbe func(ctx context.Context) localapi.Helper
	// UI serves the web UI's files on the TCP listener (ui/web.Handler);
	// nil: no web UI.
	UI http.Handler
	// MCPHandler builds the MCP endpoint's handler over a client of this
	// daemon (the CLI passes ui/mcpserver's); the endpoint runs while the
	// setting mcp_server_enabled is on. Nil: this daemon has none.
	MCPHandler func(*localapi.Client) http.Handler
}

// stopTimeout bounds stopping every forward and writing their stopped
// states at shutdown (relay deletions included).
const stopTimeout = 45 * time.Second

func osPID() int { return os.Getpid() }

// Run runs the daemon until ctx ends or a client asks it to stop, then
// stops every forward, writes their stopped states and removes its socket.
// It fails at once with an error wrapping ErrRunning when another daemon
// holds the config directory.
func Run(ctx context.Context, opts Options) error {
	if opts.CounterPeriod <= 0 {
		opts.CounterPeriod = time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 5 * time.Second
	}
	if opts.RelaySweepEvery <= 0 {
		opts.RelaySweepEvery = 5 * time.Minute
	}
	log := opts.Log
	p := localapi.PathsIn(opts.Dir)
	if len(p.Socket) > maxSocketPath {
		return fmt.Errorf("the API socket path %s is %d bytes, longer than unix sockets allow (%d); use a shorter config directory (--config-dir or KFTRAY_CONFIG)", p.Socket, len(p.Socket), maxSocketPath)
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return fmt.Errorf("creating the config directory: %w", err)
	}
	lk, err := acquireLock(p)
	if err != nil {
		return err
	}
	defer lk.release()
	// The lock is ours: whoever wrote the pid file before is gone.
	prev := p.ReadPID()
	if prev == os.Getpid() {
		prev = 0
	}
	if err := writeFile0600(p.PID, []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		return fmt.Errorf("writing %s: %w", p.PID, err)
	}
	defer os.Remove(p.PID)

	st, err := store.Open(ctx, p.Dir)
	if err != nil {
		return err
	}
	defer st.Close()

	if opts.Engine.Relay.Owner.Session == "" {
		// Tells this daemon's relays from a dead one's (relay.DeadSession).
		opts.Engine.Relay.Owner.Session = relay.DaemonSession(relay.DirKey(p.Dir))
	}
	if err := st.SetSetting(ctx, RelaySessionKey, opts.Engine.Relay.Owner.Session); err != nil {
		return fmt.Errorf("recording the relay session: %w", err)
	}
	if opts.Engine.Relay.TemplateDir == "" {
		// The user's relay-deployment.yaml.tmpl, if any, lives here.
		opts.Engine.Relay.TemplateDir = p.Dir
	}
	core := NewCore(CoreOptions{Store: st, Log: log, Engine: opts.Engine, Remember: true, DeadDaemon: prev})
	if n, err := core.ClearStale(ctx); err != nil {
		return fmt.Errorf("clearing stale forward states: %w", err)
	} else if n > 0 {
		log.Info().Int("states", n).Msg("cleared stale forward states")
	}

	// The lock is ours, so a socket file left behind is a dead daemon's
	// (and so is an MCP address).
	_ = os.Remove(p.Socket)
	_ = os.Remove(p.MCPAddr)
	uln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p.Socket, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listening on %s: %w", p.Socket, err)
	}
	uln.SetUnlinkOnClose(true)
	if err := os.Chmod(p.Socket, 0o600); err != nil {
		uln.Close()
		return fmt.Errorf("restricting %s to its owner: %w", p.Socket, err)
	}

	load := opts.Engine.LoadCluster
	if load == nil {
		load = kube.Load
	}
	tok := &apiToken{path: p.Token}
	defer tok.remove()
	d := &daemon{core: core, started: time.Now(), dir: p.Dir, socket: p.Socket, stop: make(chan struct{}),
		load: load, helperProbe: opts.HelperProbe, logPath: p.Log,
		mcp: &mcpEndpoint{newHandler: opts.MCPHandler, paths: p, token: tok, log: log}}
	lns := []net.Listener{uln}
	var token string
	if opts.HTTPAddr != "" {
		tln, err := listenHTTP(p, opts.HTTPAddr, tok)
		if err != nil {
			uln.Close()
			return err
		}
		defer os.Remove(p.Addr)
		lns, d.httpAddr = append(lns, tln), tln.Addr().String()
		token, _ = tok.get()
	}

	srv := httpapi.NewServer(d, httpapi.ServerOptions{UID: uint32(os.Getuid()), Token: token, Log: log, UI: opts.UI})
	stopSources, err := d.registerSources(ctx, srv)
	if err != nil {
		uln.Close()
		return err
	}
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil {
				log.Error().Err(err).Str("addr", ln.Addr().String()).Msg("api server")
			}
		}()
	}
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(2)
	go func() { defer wg.Done(); core.RunWriter(wctx, opts.CounterPeriod) }()
	go func() { defer wg.Done(); core.RunHTTPLogSweeper(wctx) }()

	if m, err := d.Settings(ctx); err != nil {
		log.Error().Err(err).Msg("reading the MCP settings")
	} else if err := d.mcp.apply(ctx, m); err != nil {
		log.Error().Err(err).Msg("MCP endpoint not started")
	}
	log.Info().Str("socket", p.Socket).Str("http", d.httpAddr).Str("mcp", d.mcp.Addr()).Msg("daemon started")
	restoreDone := make(chan struct{})
	go func() {
		defer close(restoreDone)
		n, err := core.Restore(ctx)
		if err != nil {
			log.Error().Err(err).Msg("restoring forwards")
		} else if n > 0 {
			log.Info().Int("forwards", n).Msg("restored forwards that were running")
		}
	}()
	// Relays that dead kftray processes left: deleted in the background,
	// at start and every RelaySweepEvery, until the daemon stops.
	orphansCtx, stopOrphans := context.WithCancel(ctx)
	orphansDone := make(chan struct{})
	go func() {
		defer close(orphansDone)
		if m, ok := core.eng.(interface{ RelayOwner() relay.Owner }); ok {
			s := &relaySweeper{st: st, load: load, owner: m.RelayOwner(), dirKey: relay.DirKey(p.Dir), kube: core.kube,
				log: log, deleteTimeout: 30 * time.Second}
			s.run(orphansCtx, opts.RelaySweepEvery)
		}
	}()
	if opts.Ready != nil {
		opts.Ready(d.Status(ctx))
	}

	// A daemon whose socket was deleted (its config directory removed)
	// can be reached by no one: it stops rather than run on unseen.
	gone := time.NewTicker(5 * time.Second)
	defer gone.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info().Msg("stopping: signal")
			break wait
		case <-d.stop:
			log.Info().Msg("stopping: asked through the API")
			break wait
		case <-gone.C:
			if _, err := os.Lstat(p.Socket); errors.Is(err, os.ErrNotExist) {
				log.Warn().Str("socket", p.Socket).Msg("stopping: the API socket was deleted")
				break wait
			}
		}
	}
	// Stop serving first so no new forward starts while we stop them.
	core.Hub().Close(&localapi.Event{Type: "shutdown"})
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
	defer cancel()
	d.mcp.stop(hctx) // before the API: its handler is an API client
	if err := srv.Shutdown(hctx); err != nil {
		log.Warn().Err(err).Msg("api shutdown")
	}
	// The HTTP server may have spent all of hctx: stopping the forwards
	// and writing their stopped states get their own time.
	sctx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancelStop()
	stopOrphans()
	<-orphansDone
	stopSources()
	// The state writer stops first, so the stopped states are written
	// here, with sctx, and not by a writer racing the end of the process.
	stopWriter()
	wg.Wait()
	core.StopAll(sctx) // gives up the restore's starts too
	<-restoreDone
	core.Flush(sctx)
	if err := core.Close(); err != nil {
		log.Warn().Err(err).Msg("closing the helper session")
	}
	log.Info().Msg("daemon stopped")
	return nil
}

func listenHTTP(p localapi.Paths, addr string, tok *apiToken) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP API address %q: %w; use 127.0.0.1:PORT", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("HTTP API address %q is not a loopback IP; the API must not be reachable from other machines (use 127.0.0.1:PORT)", addr)
	}
	// The token is in place before anyone can learn the address.
	if _, err := tok.get(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP API: %w; choose another address with --http-addr", err)
	}
	if err := writeFile0600(p.Addr, []byte(ln.Addr().String()+"\n")); err != nil {
		ln.Close()
		return nil, fmt.Errorf("writing %s: %w", p.Addr, err)
	}
	return ln, nil
}

// daemon is the API's backend.
type daemon struct {
	core     *Core
	started  time.Time
	dir      string
	socket   string
	httpAddr string
	stopOnce sync.Once
	stop     chan struct{}

	load        func(kube.Source) (*kube.Cluster, error) // clusters for the pickers and relays
	helperProbe func(ctx context.Context) localapi.Helper
	logPath     string
	mcp         *mcpEndpoint
}

func (d *daemon) Status(context.Context) localapi.Status {
	return localapi.Status{PID: os.Getpid(), Version: buildinfo.Get().Version, StartedAt: d.started, ConfigDir: d.dir,
		Socket: d.socket, HTTPAddr: d.httpAddr, Forwards: d.core.Running(), MCPAddr: d.mcp.Addr()}
}

func (d *daemon) Forwards(ctx context.Context) ([]localapi.Forward, error) {
	return d.core.Forwards(ctx)
}
func (d *daemon) Forward(ctx context.Context, ref string) (localapi.Forward, error) {
	return d.core.Forward(ctx, ref)
}
func (d *daemon) Start(ctx context.Context, sel localapi.Selection) (localapi.Results, error) {
	select {
	case <-d.stop:
		return localapi.Results{}, errors.New("the daemon is stopping")
	default:
	}
	return d.core.Start(ctx, sel)
}
func (d *daemon) Stop(ctx context.Context, sel localapi.Selection) (localapi.Results, error) {
	return d.core.Stop(ctx, sel)
}
func (d *daemon) ImportConfigs(ctx context.Context, data []byte) (fwdconfig.ImportResult, error) {
	return d.core.st.ImportConfigs(ctx, data)
}
func (d *daemon) ExportConfigs(ctx context.Context) ([]byte, error) {
	return d.core.st.ExportConfigs(ctx)
}
func (d *daemon) DeleteConfig(ctx context.Context, ref string) (int64, error) {
	return d.core.DeleteConfig(ctx, ref)
}
func (d *daemon) Subscribe() (<-chan localapi.Event, func()) { return d.core.Hub().Subscribe() }
func (d *daemon) Shutdown()                                  { d.stopOnce.Do(func() { close(d.stop) }) }
