// Package helperclient is the forwarder's side of the root kftray-helper:
// it opens a session through the launcher socket (after checking root serves
// it), speaks go-plugin gRPC to the session's plugin and receives bound
// sockets on the fd channel.
//
//	c, err := helperclient.Dial(ctx, helperclient.Options{})
//	defer c.Close()
//	ln, err := c.Listen(ctx, "tcp", ip, 80)
//
// It links no root-side code.
package helperclient

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/kftray-go/kftray/ipc"
	"github.com/kftray-go/kftray/ipc/fdpass"
)

// InstallCommand is what a user runs to install or repair the helper.
const InstallCommand = "sudo kftray helper install"

// Errors callers can test for.
var (
	ErrNotInstalled = errors.New("kftray-helper is not installed")
	ErrRefused      = errors.New("kftray-helper refused the session")
	ErrOutdated     = errors.New("kftray-helper is out of date")
	ErrClosed       = errors.New("kftray-helper session closed")
)

// Binder is what the forwarder needs to listen on addresses it may not bind
// itself.
type Binder interface {
	Listen(ctx context.Context, network string, ip netip.Addr, port uint16) (net.Listener, error)
	ListenPacket(ctx context.Context, network string, ip netip.Addr, port uint16) (net.PacketConn, error)
}

// Options configure Dial.
type Options struct {
	Socket string // default DefaultSocket
	// ExpectVersion, if set, is the helper version this kftray ships; a
	// different installed version fails Dial with ErrOutdated.
	ExpectVersion string
	// StartTimeout bounds the session start (default 20s).
	StartTimeout time.Duration
	// Logger receives go-plugin's own logs; default: discarded.
	Logger hclog.Logger
	// ServerUID is the uid that must serve the socket. Zero, root, is the
	// only right value outside tests.
	ServerUID uint32
}

// Client is one helper session.
type Client struct {
	pc   *plugin.Client
	h    ipc.Helper
	fds  *fdpass.Conn
	info ipc.VersionInfo

	next    atomic.Uint64
	mu      sync.Mutex
	waiters map[uint64]chan frame
	readErr error
	done    chan struct{}
}

type frame struct {
	fd  int
	err error
}

var _ Binder = (*Client)(nil)

// Dial opens a session. Close it to end the session: the helper then
// removes its hosts lines and addresses.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.Socket == "" {
		opts.Socket = DefaultSocket
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 20 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if _, err := os.Stat(opts.Socket); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w (no socket at %s); run `%s`", ErrNotInstalled, opts.Socket, InstallCommand)
		}
		return nil, fmt.Errorf("kftray-helper socket %s: %w", opts.Socket, err)
	}
	local, remote, err := fdpass.Socketpair()
	if err != nil {
		return nil, err
	}
	r := &launcherRunner{socket: opts.Socket, serverUID: opts.ServerUID, fdRemote: remote}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  ipc.Handshake,
		VersionedPlugins: ipc.PluginMap(nil),
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, tmpDir string) (runner.Runner, error) {
			// go-plugin made a socket directory for a local plugin; ours lives
			// in the launcher's root-owned session directory instead, so drop
			// it now rather than leave it behind if we are killed.
			os.Remove(tmpDir)
			r.env = cmd.Env
			return r, nil
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true, // our environment is none of the helper's business
		StartTimeout:     opts.StartTimeout,
		Logger:           opts.Logger,
	})
	fail := func(err error) (*Client, error) {
		pc.Kill()
		local.Close()
		remote.Close()
		return nil, err
	}
	rpc, err := pc.Client()
	if err != nil {
		if r.refused != nil {
			return fail(r.refused)
		}
		if r.stderr != nil {
			if tail := strings.TrimSpace(r.stderr.Tail()); tail != "" {
				err = fmt.Errorf("%w; the helper said: %s", err, tail)
			}
		}
		return fail(fmt.Errorf("start kftray-helper session: %w; if the helper was updated, run `%s`", err, InstallCommand))
	}
	raw, err := rpc.Dispense(ipc.PluginName)
	if err != nil {
		return fail(fmt.Errorf("kftray-helper: %w", err))
	}
	c := &Client{pc: pc, h: raw.(ipc.Helper), fds: fdpass.New(local), waiters: map[uint64]chan frame{}, done: make(chan struct{})}
	go c.readFrames()
	info, err := c.h.Version(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("kftray-helper version: %w", err)
	}
	c.info = info
	if opts.ExpectVersion != "" && info.Version != opts.ExpectVersion {
		c.Close()
		return nil, fmt.Errorf("%w: installed %s, this kftray needs %s; run `%s`", ErrOutdated, info.Version, opts.ExpectVersion, InstallCommand)
	}
	return c, nil
}

// newWithHelper wires a Client around an already-connected Helper and fd
// channel (go-plugin test mode).
func newWithHelper(h ipc.Helper, fds *fdpass.Conn) *Client {
	c := &Client{h: h, fds: fds, waiters: map[uint64]chan frame{}, done: make(chan struct{})}
	go c.readFrames()
	return c
}

// Close ends the session.
func (c *Client) Close() error {
	if c.pc != nil {
		c.pc.Kill()
	}
	return c.fds.Close()
}

// Done is closed when the session has ended (the helper or its launcher
// went away); a new Dial starts a new one.
func (c *Client) Done() <-chan struct{} { return c.done }

// Info is the helper's Version answer from Dial.
func (c *Client) Info() ipc.VersionInfo { return c.info }

func (c *Client) Version(ctx context.Context) (ipc.VersionInfo, error) { return c.h.Version(ctx) }

func (c *Client) AllocateAddress(ctx context.Context) (netip.Addr, error) {
	return c.h.AllocateAddress(ctx)
}

func (c *Client) ReleaseAddress(ctx context.Context, ip netip.Addr) error {
	return c.h.ReleaseAddress(ctx, ip)
}

func (c *Client) AddLoopbackAlias(ctx context.Context, ip netip.Addr) error {
	return c.h.AddLoopbackAlias(ctx, ip)
}

func (c *Client) RemoveLoopbackAlias(ctx context.Context, ip netip.Addr) error {
	return c.h.RemoveLoopbackAlias(ctx, ip)
}

// SetHosts replaces this session's hosts lines under lease.
func (c *Client) SetHosts(ctx context.Context, lease string, entries []ipc.HostEntry) error {
	return c.h.SetHosts(ctx, lease, entries)
}

func (c *Client) ListHosts(ctx context.Context) ([]ipc.ManagedHost, error) {
	return c.h.ListHosts(ctx)
}

// Listen has the helper bind a TCP listener and returns it.
func (c *Client) Listen(ctx context.Context, network string, ip netip.Addr, port uint16) (net.Listener, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("helper listen: network %q: want tcp", network)
	}
	f, err := c.bind(ctx, "tcp", ip, port)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("helper listen %s: %w", netip.AddrPortFrom(ip, port), err)
	}
	return ln, nil
}

// ListenPacket has the helper bind a UDP socket and returns it.
func (c *Client) ListenPacket(ctx context.Context, network string, ip netip.Addr, port uint16) (net.PacketConn, error) {
	if network != "udp" && network != "udp4" && network != "udp6" {
		return nil, fmt.Errorf("helper listen: network %q: want udp", network)
	}
	f, err := c.bind(ctx, "udp", ip, port)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("helper listen udp %s: %w", netip.AddrPortFrom(ip, port), err)
	}
	return pc, nil
}

func (c *Client) bind(ctx context.Context, network string, ip netip.Addr, port uint16) (*os.File, error) {
	id := c.next.Add(1)
	ch := make(chan frame, 1)
	c.mu.Lock()
	if c.readErr != nil {
		c.mu.Unlock()
		return nil, c.readErr
	}
	c.waiters[id] = ch // before the RPC: the frame may beat its answer
	c.mu.Unlock()
	drop := func() {
		c.mu.Lock()
		delete(c.waiters, id)
		c.mu.Unlock()
		select { // a frame that raced in after all
		case fr := <-ch:
			if fr.err == nil {
				syscall.Close(fr.fd)
			}
		default:
		}
	}
	if err := c.h.BindListener(ctx, ipc.BindRequest{Network: network, IP: ip, Port: port, ID: id}); err != nil {
		drop()
		return nil, err
	}
	select {
	case fr := <-ch:
		if fr.err != nil {
			return nil, fr.err
		}
		return os.NewFile(uintptr(fr.fd), fmt.Sprintf("%s:%s", network, netip.AddrPortFrom(ip, port))), nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	case <-c.done:
		drop()
		return nil, c.readErr
	}
}

// readFrames hands each received socket to the Listen call waiting for it.
func (c *Client) readFrames() {
	for {
		body, fds, err := c.fds.Read()
		if err != nil {
			c.mu.Lock()
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = ErrClosed
			}
			c.readErr = fmt.Errorf("kftray-helper fd channel: %w", err)
			c.mu.Unlock()
			close(c.done)
			return
		}
		if len(body) != 8 {
			fdpass.CloseFDs(fds)
			continue
		}
		id := binary.BigEndian.Uint64(body)
		c.mu.Lock()
		ch, ok := c.waiters[id]
		delete(c.waiters, id)
		c.mu.Unlock()
		switch {
		case !ok:
			fdpass.CloseFDs(fds) // nobody asked for it
		case len(fds) != 1:
			fdpass.CloseFDs(fds)
			ch <- frame{err: fmt.Errorf("kftray-helper sent %d descriptors for one socket", len(fds))}
		default:
			ch <- frame{fd: fds[0]}
		}
	}
}
