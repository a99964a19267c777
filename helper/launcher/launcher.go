// Package launcher is `kftray-helper service`, the root process behind the
// helper socket. It authorizes each connection by the kernel's peer uid
// against the root-owned config, starts one `kftray-helper plugin` per
// forwarder session with the descriptors the forwarder passed, and stops it
// (SIGTERM, then SIGKILL after StopGrace) and removes the session's hosts
// lines and addresses when the connection closes.
package launcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/hosts"
	"github.com/kftray-go/kftray/helper/session"
	"github.com/kftray-go/kftray/internal/envknob"
	"github.com/kftray-go/kftray/ipc"
	"github.com/kftray-go/kftray/ipc/fdpass"
	"github.com/kftray-go/kftray/ipc/peercred"
)

// Options configure the service. Paths default to the installed layout;
// tests point them at temp files.
type Options struct {
	Socket     string // listen here unless systemd passed a socket
	ConfigPath string
	HostsPath  string
	RunDir     string // root-owned; locks, pool state, session socket dirs
	// Executable is for tests only: a path to run as `plugin`. Empty (as
	// always in production) runs the launcher's own binary, resolved once
	// at start (see selfExec).
	Executable string
	Log        zerolog.Logger
	// ConfigCheckInterval is how often the config file is stat'ed for
	// changes (SIGHUP checks at once); default 2 s.
	ConfigCheckInterval time.Duration

	exe execPath
}

// execPath is the binary a session runs and the argv[0] it shows.
type execPath struct {
	path, argv0 string
	check       func() error // nil: nothing to check before each launch
}

func (o *Options) defaults() error {
	if o.Socket == "" {
		o.Socket = config.DefaultSocket
	}
	if o.ConfigPath == "" {
		o.ConfigPath = config.DefaultPath
	}
	if o.HostsPath == "" {
		o.HostsPath = config.DefaultHosts
	}
	if o.RunDir == "" {
		o.RunDir = config.DefaultRunDir
	}
	if o.ConfigCheckInterval <= 0 {
		o.ConfigCheckInterval = 2 * time.Second
	}
	if o.Executable != "" {
		o.exe = execPath{path: o.Executable, argv0: o.Executable}
		return nil
	}
	exe, err := selfExec()
	if err != nil {
		return fmt.Errorf("launcher: find own executable: %w", err)
	}
	o.exe = exe
	return nil
}

// Session limits: each session is a root process, so a user must not be
// able to start them without bound.
const (
	MaxSessionsPerUID = 8
	MaxSessions       = 64
)

// Service is a running launcher.
type Service struct {
	opts     Options
	ln       *net.UnixListener
	wg       sync.WaitGroup
	mu       sync.Mutex
	sessions map[string]liveSession
	perUID   map[uint32]int
	reload   chan struct{}
	stop     context.CancelFunc
	flusher  *hosts.Flusher // one DNS flush rate for every write of this process
}

type liveSession struct {
	uid    uint32
	cancel context.CancelFunc
}

// Run serves until ctx is done, then ends every session and sweeps the
// hosts block. SIGHUP re-reads the config at once (it is also checked for
// changes every ConfigCheckInterval).
func Run(ctx context.Context, opts Options) error {
	s, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, unix.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return s.Stop()
		case <-hup:
			s.Reload()
		}
	}
}

// Start checks the environment, sweeps stale state and starts accepting.
func Start(ctx context.Context, opts Options) (*Service, error) {
	if os.Getuid() != os.Geteuid() {
		return nil, errors.New("kftray-helper service: real and effective uid differ; the helper must never be setuid — remove the setuid bit and run it from systemd/launchd as root")
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	// Fail early on a bad config; it is re-read for every connection.
	cfg, err := config.Load(opts.ConfigPath, os.Geteuid() == 0)
	if err != nil {
		return nil, err
	}
	if err := ensureRootDir(opts.RunDir, 0o755); err != nil {
		return nil, err
	}
	// Traversable, not listable: each session's socket inside is reachable
	// by its own user only (see ServePlugin).
	if err := ensureRootDir(filepath.Join(opts.RunDir, "sessions"), 0o711); err != nil {
		return nil, err
	}
	s := newService(opts)
	// No session survives a launcher restart (plugins die with their parent),
	// so every managed line and allocation left over is stale.
	if err := s.sweep(ctx, cfg); err != nil {
		opts.Log.Warn().Err(err).Msg("sweep at start")
	}
	ln, err := listen(opts.Socket)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	opts.Log.Info().Str("socket", opts.Socket).Msg("kftray-helper service listening")
	wctx, stop := context.WithCancel(ctx)
	s.stop = stop
	s.wg.Add(2)
	go s.acceptLoop(ctx)
	go s.watchConfig(wctx)
	return s, nil
}

// Stop closes the socket, ends every session and sweeps.
func (s *Service) Stop() error {
	s.ln.Close()
	s.stop()
	s.mu.Lock()
	for _, ls := range s.sessions {
		ls.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
	cfg, err := config.Load(s.opts.ConfigPath, os.Geteuid() == 0)
	if err != nil {
		return err
	}
	return s.sweep(context.Background(), cfg)
}

func newService(opts Options) *Service {
	return &Service{opts: opts, sessions: map[string]liveSession{}, perUID: map[uint32]int{},
		reload: make(chan struct{}, 1), flusher: hosts.NewFlusher(hosts.FlushDNS, hosts.FlushInterval)}
}

// hostsFile is the hosts block as this process writes it.
func (s *Service) hostsFile(cfg *config.Config) *hosts.File {
	hf := session.NewHostsFile(cfg, s.opts.HostsPath, s.opts.RunDir, s.flusher.Flush)
	hf.Log = s.opts.Log
	return hf
}

// sweep finishes or undoes an interrupted hosts write (the journal),
// removes stale temporary files and every managed line, and frees every
// address.
func (s *Service) sweep(ctx context.Context, cfg *config.Config) error {
	hf := s.hostsFile(cfg)
	e1 := hf.Sweep(ctx, func(hosts.Line) bool { return false })
	e2 := session.NewPool(cfg, s.opts.RunDir).Reset()
	ents, _ := os.ReadDir(filepath.Join(s.opts.RunDir, "sessions"))
	for _, e := range ents {
		os.RemoveAll(filepath.Join(s.opts.RunDir, "sessions", e.Name()))
	}
	return errors.Join(e1, e2)
}

// ensureRootDir creates dir, or checks an existing one is a real directory
// owned by us and not writable by others.
func ensureRootDir(dir string, mode os.FileMode) error {
	if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("launcher: create %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("launcher: stat %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return fmt.Errorf("launcher: %s must be a directory owned by uid %d and not group/world-writable", dir, os.Geteuid())
	}
	if os.FileMode(st.Mode&0o7777) != mode {
		// An older install's mode (or umask) may be wider than we want now.
		if err := unix.Chmod(dir, uint32(mode)); err != nil {
			return fmt.Errorf("launcher: chmod %s: %w", dir, err)
		}
	}
	return nil
}

// listen uses the socket systemd passed (socket activation) or binds path.
func listen(path string) (*net.UnixListener, error) {
	if pid, _ := strconv.Atoi(envknob.Get(envknob.ListenPID)); pid == os.Getpid() {
		if n, _ := strconv.Atoi(envknob.Get(envknob.ListenFDs)); n >= 1 {
			f := os.NewFile(3, "systemd-socket")
			l, err := net.FileListener(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("launcher: socket from systemd: %w", err)
			}
			ul, ok := l.(*net.UnixListener)
			if !ok {
				l.Close()
				return nil, fmt.Errorf("launcher: systemd passed a %T, want a unix socket", l)
			}
			return ul, nil
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err == nil {
		if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			return nil, fmt.Errorf("launcher: %s exists and is not a socket; remove it", path)
		}
		os.Remove(path) // stale socket from a previous run
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("launcher: listen on %s: %w", path, err)
	}
	// Anyone may connect: authorization is the kernel's peer uid, checked
	// on every connection.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("launcher: chmod %s: %w", path, err)
	}
	return ln, nil
}

func (s *Service) acceptLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.opts.Log.Warn().Err(err).Msg("accept")
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
}

func reply(fc *fdpass.Conn, r ipc.LaunchResponse) {
	b, _ := json.Marshal(r)
	_ = fc.Write(b)
}

func (s *Service) handle(ctx context.Context, c *net.UnixConn) {
	fc := fdpass.New(c)
	defer fc.Close()
	log := s.opts.Log
	cred, err := peercred.Get(c)
	if err != nil {
		log.Warn().Err(err).Msg("refused connection without credentials")
		return
	}
	log = log.With().Uint32("uid", cred.UID).Int32("pid", cred.PID).Logger()
	cfg, err := config.Load(s.opts.ConfigPath, os.Geteuid() == 0)
	if err != nil {
		log.Error().Err(err).Msg("config")
		reply(fc, ipc.LaunchResponse{Error: "the helper's config is unusable; re-run `sudo kftray helper install`"})
		return
	}
	if !cfg.Allowed(cred.UID) {
		log.Warn().Msg("refused: uid not in allowed_uids")
		reply(fc, ipc.LaunchResponse{Error: fmt.Sprintf("uid %d is not allowed to use kftray-helper; run `sudo kftray helper install` as that user to allow it", cred.UID)})
		return
	}
	if !s.reserve(cred.UID) {
		log.Warn().Msg("refused: too many sessions")
		reply(fc, ipc.LaunchResponse{Error: fmt.Sprintf("uid %d already has %d helper sessions (or the helper has %d); close other kftray daemons first", cred.UID, MaxSessionsPerUID, MaxSessions)})
		return
	}
	defer s.release(cred.UID)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	body, fds, err := fc.Read()
	c.SetReadDeadline(time.Time{})
	if err != nil {
		log.Warn().Err(err).Msg("bad launch request")
		return
	}
	files, err := takeFDs(fds)
	if err != nil {
		log.Warn().Err(err).Msg("refused launch request")
		reply(fc, ipc.LaunchResponse{Error: err.Error()})
		return
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var req ipc.LaunchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		reply(fc, ipc.LaunchResponse{Error: "malformed launch request: " + err.Error()})
		return
	}
	env, err := ipc.FilterPluginEnv(req.Env)
	if err != nil {
		reply(fc, ipc.LaunchResponse{Error: err.Error()})
		return
	}
	if err := ipc.CheckClientCert(env); err != nil {
		log.Warn().Err(err).Msg("refused launch request")
		reply(fc, ipc.LaunchResponse{Error: err.Error()})
		return
	}
	if check := s.opts.exe.check; check != nil {
		if err := check(); err != nil {
			log.Error().Err(err).Msg("refused launch request")
			reply(fc, ipc.LaunchResponse{Error: err.Error()})
			return
		}
	}

	id := newSessionID()
	dir := filepath.Join(s.opts.RunDir, "sessions", id)
	// Root-owned and writable by root alone, so no path the plugin creates,
	// chowns or removes in it can be swapped by anyone; traversable, so the
	// forwarder reaches its socket, which the plugin makes the peer uid's
	// alone (0600) before it announces it.
	if err := os.Mkdir(dir, 0o711); err != nil {
		reply(fc, ipc.LaunchResponse{Error: "create session directory: " + err.Error()})
		return
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o711); err != nil { // whatever the umask
		reply(fc, ipc.LaunchResponse{Error: "chmod session directory: " + err.Error()})
		return
	}
	env = append(env,
		"PLUGIN_UNIX_SOCKET_DIR="+dir,
		"TMPDIR="+dir,
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	)
	cmd := &exec.Cmd{
		Path: s.opts.exe.path,
		Args: []string{s.opts.exe.argv0, "plugin",
			"--uid", strconv.FormatUint(uint64(cred.UID), 10),
			"--session", id,
			"--config", s.opts.ConfigPath,
			"--hosts", s.opts.HostsPath,
			"--run-dir", s.opts.RunDir,
		},
		Env:         env,
		Dir:         "/",
		Stdout:      files[0],
		Stderr:      files[1],
		ExtraFiles:  []*os.File{files[2]},
		SysProcAttr: sysProcAttr(),
	}
	proc, err := startPlugin(cmd)
	if err != nil {
		reply(fc, ipc.LaunchResponse{Error: "start plugin: " + err.Error()})
		return
	}
	for _, f := range files {
		f.Close()
	}
	files = nil
	pid := cmd.Process.Pid
	log = log.With().Str("session", id).Int("plugin_pid", pid).Logger()
	log.Info().Msg("session started")

	sctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.sessions[id] = liveSession{uid: cred.UID, cancel: cancel}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, id)
		s.mu.Unlock()
		cancel()
	}()
	// The config may have dropped this uid while we were starting; a change
	// from now on finds the session in s.sessions (see enforceConfig).
	if now, err := config.Load(s.opts.ConfigPath, os.Geteuid() == 0); err != nil || !now.Allowed(cred.UID) {
		cancel()
	}

	reply(fc, ipc.LaunchResponse{PID: pid, Session: id})

	closed := make(chan struct{})
	go func() {
		// The protocol has nothing after the launch request: EOF means the
		// forwarder is gone, and any byte is a client misbehaving (reading
		// it a byte at a time would burn root's CPU), so either ends the
		// session. A plain read drops any descriptors sent along.
		var b [4096]byte
		n, err := c.Read(b[:])
		if n > 0 {
			log.Warn().Int("bytes", n).Msg("the forwarder sent data after the launch request; ending the session")
		} else if err != nil && !errors.Is(err, io.EOF) {
			log.Debug().Err(err).Msg("session connection")
		}
		close(closed)
	}()
	// Never a plain kill: the plugin may be rewriting the hosts file.
	var werr error
	select {
	case <-proc.done:
		werr = proc.err
	case <-closed:
		werr = proc.stop(StopGrace)
	case <-sctx.Done():
		werr = proc.stop(StopGrace)
	}
	c.Close() // tells the forwarder the plugin is gone
	s.cleanup(cfg, cred.UID, id, log)
	log.Info().AnErr("exit", werr).Msg("session ended")
}

func (s *Service) reserve(uid uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for _, n := range s.perUID {
		total += n
	}
	if s.perUID[uid] >= MaxSessionsPerUID || total >= MaxSessions {
		return false
	}
	s.perUID[uid]++
	return true
}

func (s *Service) release(uid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUID[uid]--; s.perUID[uid] <= 0 {
		delete(s.perUID, uid)
	}
}

// cleanup removes what the session left: hosts lines, addresses, aliases.
func (s *Service) cleanup(cfg *config.Config, uid uint32, id string, log zerolog.Logger) {
	ctx := context.Background()
	hf := s.hostsFile(cfg)
	if err := hf.RemoveSession(ctx, uid, id); err != nil {
		log.Error().Err(err).Msg("remove session hosts lines")
	}
	pool := session.NewPool(cfg, s.opts.RunDir)
	ips, _ := pool.SessionAddresses(id) // an unreadable pool: nothing to unalias
	for _, ip := range ips {
		_ = session.RemoveAlias(ctx, ip)
	}
	if err := pool.ReleaseSession(id); err != nil {
		log.Error().Err(err).Msg("release session addresses")
	}
}

// takeFDs checks the launch request carried exactly the descriptors the
// protocol defines, each of the kind it must be: the plugin's stdout and
// stderr are pipes (never a file or device of the caller's that root would
// write to), and the fd channel is a unix stream socket.
func takeFDs(fds []int) ([]*os.File, error) {
	if len(fds) != ipc.LaunchFDs {
		fdpass.CloseFDs(fds)
		return nil, fmt.Errorf("launch request must carry %d descriptors (stdout, stderr, fd channel), got %d", ipc.LaunchFDs, len(fds))
	}
	for i, name := range []string{"stdout", "stderr"} {
		if kind := describeFD(fds[i]); kind != kindPipe {
			fdpass.CloseFDs(fds)
			return nil, fmt.Errorf("the launch request's %s descriptor must be a pipe (os.Pipe), not %s", name, kind)
		}
	}
	if kind := describeFD(fds[2]); kind != kindUnixStream {
		fdpass.CloseFDs(fds)
		return nil, fmt.Errorf("the third descriptor (fd channel) must be a unix stream socket (AF_UNIX, SOCK_STREAM), not %s", kind)
	}
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), "passed-"+strconv.Itoa(i))
	}
	return files, nil
}

// The kinds takeFDs wants, as describeFD names them.
const (
	kindPipe       = "a pipe"
	kindUnixStream = "a socket (AF_UNIX, SOCK_STREAM)"
)

// describeFD names a descriptor's kind (fstat; for a socket its family
// from getsockname, portable unlike SO_DOMAIN, and SO_TYPE).
func describeFD(fd int) string {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "a closed descriptor"
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return kindPipe
	case unix.S_IFSOCK:
		family := "not AF_UNIX"
		if sa, err := unix.Getsockname(fd); err == nil {
			switch sa.(type) {
			case *unix.SockaddrUnix:
				family = "AF_UNIX"
			case *unix.SockaddrInet4:
				family = "AF_INET"
			case *unix.SockaddrInet6:
				family = "AF_INET6"
			}
		}
		typ, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		kind, ok := map[int]string{unix.SOCK_STREAM: "SOCK_STREAM", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_SEQPACKET: "SOCK_SEQPACKET"}[typ]
		if !ok {
			kind = "type " + strconv.Itoa(typ)
		}
		return fmt.Sprintf("a socket (%s, %s)", family, kind)
	}
	return "another kind of file"
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Cleanup removes every managed hosts line and allocation, for uninstall
// and for `kftray-helper cleanup` when the service is not running.
func Cleanup(ctx context.Context, opts Options) error {
	if err := opts.defaults(); err != nil {
		return err
	}
	cfg, err := config.Load(opts.ConfigPath, os.Geteuid() == 0)
	if err != nil {
		return err
	}
	return newService(opts).sweep(ctx, cfg)
}
