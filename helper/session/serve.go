package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/helper/addrpool"
	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/hosts"
	"github.com/kftray-go/kftray/internal/buildinfo"
	"github.com/kftray-go/kftray/internal/envknob"
	"github.com/kftray-go/kftray/ipc"
	"github.com/kftray-go/kftray/ipc/fdpass"
)

// Version is the helper's semver: kftray's own, set at link time with
// -X github.com/kftray-go/kftray/internal/buildinfo.Version=v1.2.3, so a
// kftray and its helper built together agree.
func Version() string {
	if buildinfo.Version != "" {
		return buildinfo.Version
	}
	return "v0.0.0-dev"
}

// fdChannel is the descriptor the launcher puts the fd channel on.
const fdChannel = 3

// PluginOptions are set by the launcher on the plugin's command line; none
// of them comes from the forwarder.
type PluginOptions struct {
	UID        uint32
	Session    string
	ConfigPath string
	HostsPath  string
	RunDir     string
	Log        zerolog.Logger
}

// newFromOptions builds the session a plugin process serves.
func newFromOptions(o PluginOptions, fds *fdpass.Conn, requireRootConfig bool) (*Session, error) {
	if err := hosts.ValidateSession(o.Session); err != nil {
		return nil, err
	}
	cfg, err := config.Load(o.ConfigPath, requireRootConfig)
	if err != nil {
		return nil, err
	}
	info, err := SelfVersion()
	if err != nil {
		return nil, err
	}
	hf := NewHostsFile(cfg, o.HostsPath, o.RunDir, hosts.NewFlusher(hosts.FlushDNS, hosts.FlushInterval).Flush)
	hf.Gate = &hosts.Gate{}
	hf.Log = o.Log
	return &Session{
		UID:    o.UID,
		ID:     o.Session,
		Config: cfg,
		Hosts:  hf,
		Pool:   NewPool(cfg, o.RunDir),
		FDs:    fds,
		Info:   info,
		Log:    o.Log.With().Uint32("uid", o.UID).Str("session", o.Session).Logger(),
	}, nil
}

// NewHostsFile is the hosts block every helper process shares; flush
// runs after each change (a process's rate-limited DNS flush).
func NewHostsFile(cfg *config.Config, path, runDir string, flush func(context.Context) error) *hosts.File {
	return &hosts.File{
		Path:     path,
		LockPath: runDir + "/hosts.lock",
		Policy: hosts.Policy{Suffixes: cfg.Suffixes(), SingleLabel: cfg.SingleLabel(), MaxPerUID: cfg.MaxHosts(),
			MachineNames: hosts.MachineNames},
		Flush: flush,
	}
}

// NewPool is the address pool every helper process shares. cfg comes from
// config.Load, which has validated the prefix.
func NewPool(cfg *config.Config, runDir string) *addrpool.Pool {
	pfx, _ := cfg.Pool()
	return &addrpool.Pool{Prefix: pfx, Dir: runDir}
}

// SelfVersion describes the running binary; the hash is of the executable
// the kernel is running, read by root, so the forwarder can compare it with
// what it expects.
func SelfVersion() (ipc.VersionInfo, error) {
	exe := "/proc/self/exe"
	if runtime.GOOS != "linux" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return ipc.VersionInfo{}, fmt.Errorf("find own executable: %w", err)
		}
	}
	f, err := os.Open(exe)
	if err != nil {
		return ipc.VersionInfo{}, fmt.Errorf("hash own executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ipc.VersionInfo{}, fmt.Errorf("hash own executable: %w", err)
	}
	return ipc.VersionInfo{Version: Version(), Protocol: ipc.ProtocolVersion, SHA256: hex.EncodeToString(h.Sum(nil)), OS: runtime.GOOS, Arch: runtime.GOARCH}, nil
}

// exitWithParent ends the plugin when the launcher is gone, after a hosts
// write under way. Linux also has Pdeathsig; macOS has nothing like it, so
// watch for re-parenting.
func exitWithParent(gate *hosts.Gate) {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			gate.Close()
			os.Exit(1)
		}
	}
}

// exitOnSIGTERM is how the launcher ends a session: it sends SIGTERM, and
// kills only if the plugin is still there after launcher.StopGrace. A
// hosts write under way finishes first, and no new one starts.
func exitOnSIGTERM(gate *hosts.Gate) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		gate.Close()
		os.Exit(0)
	}()
}

// ServePlugin runs `kftray-helper plugin`: the go-plugin gRPC server for one
// session, with the fd channel on descriptor 3. It returns when the
// forwarder goes away.
func ServePlugin(o PluginOptions) error {
	if os.Getuid() != os.Geteuid() {
		return errors.New("kftray-helper plugin: real and effective uid differ; the helper must never be setuid")
	}
	conn, err := fdpass.FileConn(fdChannel, "fd-channel")
	if err != nil {
		return fmt.Errorf("kftray-helper plugin: descriptor %d must be the fd channel from the launcher: %w", fdChannel, err)
	}
	fds := fdpass.New(conn)
	defer fds.Close()
	s, err := newFromOptions(o, fds, os.Geteuid() == 0)
	if err != nil {
		return err
	}
	// Mutual TLS is not optional: go-plugin serves plaintext to anyone who
	// reaches the socket when the forwarder sent no certificate.
	if err := ipc.CheckClientCert([]string{ipc.ClientCertEnv + "=" + envknob.Get(envknob.PluginClientCert)}); err != nil {
		return fmt.Errorf("kftray-helper plugin: %w", err)
	}
	dir := envknob.Get(envknob.PluginSocketDir)
	if err := checkSocketDir(dir); err != nil {
		return err
	}
	stderr := os.Stderr // go-plugin replaces os.Stderr once it serves
	if err := guardHandshake(o.UID, dir, func(err error) {
		fmt.Fprintln(stderr, "kftray-helper plugin:", err)
		os.Exit(1)
	}); err != nil {
		return err
	}
	exitOnSIGTERM(s.Hosts.Gate)
	go exitWithParent(s.Hosts.Gate)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  ipc.Handshake,
		VersionedPlugins: ipc.PluginMap(s),
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "kftray-helper", Output: os.Stderr, Level: hclog.Warn, JSONFormat: true}),
	})
	// Serve returns as soon as the client asks go-plugin to shut down,
	// while a SetHosts may still be writing: let it finish.
	s.Hosts.Gate.Close()
	return nil
}
