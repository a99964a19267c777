package forwarder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/forwarder/target"
	"github.com/kftray-go/kftray/forwarder/udprelay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

// Relay forwards, the engine's side: a relay forward is an ordinary pod
// forward to the pods of a kftray-server relay that package relay deploys
// and keeps (relay.SpecFor, relay.Keeper). This part stays in package
// forwarder because it builds and drives the engine's own Forward (its
// binder, start, state) and the manager's shared clusters; package relay
// holds everything about relays themselves and does not import forwarder,
// so the two import one way (forwarder -> relay) without an interface
// between them.

// relayOptions returns the manager's relay options, defaults (the owner
// session above all) fixed on first use.
func (m *Manager) relayOptions() relay.Options {
	m.relayOnce.Do(func() { m.relayOpts = m.opts.Relay.WithDefaults() })
	return m.relayOpts
}

// RelayOwner is how this manager labels its relays; relays with the same
// user and host but another session are orphans of an earlier daemon.
func (m *Manager) RelayOwner() relay.Owner { return m.relayOptions().Owner }

// startRelay starts a forward through a relay: deploy the relay, wait for
// its pod, then run an ordinary pod forward to the relay's pods (so pod
// replacement, reconnection and state are the engine's own). A UDP forward
// feeds that pod forward through an in-memory listener: each relay stream is
// one "connection" of it.
func (m *Manager) startRelay(ctx context.Context, cfg fwdconfig.Config) error {
	rs, err := relay.SpecFor(cfg)
	if err != nil {
		m.report(cfg, err)
		return err
	}
	ro := m.relayOptions()
	name := manifest.Name(cfg.ID, ro.Owner.Session)
	spec := target.Spec{Kind: target.Pod, Namespace: cfg.Namespace, Port: intstr.FromInt(relay.Port),
		Selector: labels.Set{manifest.LabelName: manifest.AppName, manifest.LabelInstance: name}.String()}
	bind := BindRequest{ConfigID: cfg.ID, Network: rs.Mode, IP: cfg.LocalAddress, Port: cfg.LocalPort, AutoLoopback: cfg.AutoLoopbackAddress}
	if cfg.DomainEnabled && cfg.Alias != "" {
		bind.Hostnames = []string{cfg.Alias}
	}
	src := kube.Source{Kubeconfig: cfg.Kubeconfig, Context: cfg.Context}

	mf, ctx, ok := m.reserve(ctx, cfg.ID)
	if !ok {
		return nil
	}
	rf, fwd, ce, err := m.buildRelay(ctx, cfg, rs, spec, bind, src, ro)
	var onStop func()
	if rf != nil {
		onStop = rf.stop
	}
	return m.finish(cfg, mf, fwd, ce, spec.Namespace, onStop, err, true)
}

func (m *Manager) buildRelay(ctx context.Context, cfg fwdconfig.Config, rs relay.Spec, spec target.Spec, bind BindRequest, src kube.Source, ro relay.Options) (*relayForward, *Forward, *clusterEntry, error) {
	fwd, ce, err := m.build(cfg, spec, bind, src)
	if err != nil {
		return nil, nil, nil, err
	}
	var podSel string
	if strings.EqualFold(cfg.WorkloadType, "pod") {
		podSel = cfg.Target
		pod, ip, err := relay.ReadyPodIP(ctx, fwd.cluster.Client, fwd.cluster.Config.Host, cfg.Namespace, podSel)
		if err != nil {
			return nil, fwd, ce, fmt.Errorf("%s: %w", fwd, err)
		}
		rs.RemoteAddress = ip
		m.opts.Logger.Info().Int64("forward", cfg.ID).Str("pod", pod).Str("ip", ip).Msg("relay targets pod")
	}
	d := &relay.Deployer{Client: fwd.cluster.Client, Host: fwd.cluster.Config.Host, Owner: ro.Owner,
		TemplateDir: ro.TemplateDir, Image: ro.Image, PodAnnotations: ro.PodAnnotations,
		Log: m.opts.Logger.With().Int64("forward", cfg.ID).Logger()}
	name := cfg.Alias
	if name == "" {
		name = fmt.Sprintf("config %d", cfg.ID)
	}
	name = fmt.Sprintf("%s (%s relay to %s:%d)", name, rs.Mode, rs.RemoteAddress, rs.RemotePort)
	r, err := d.Deploy(ctx, rs)
	if err != nil {
		return nil, fwd, ce, fmt.Errorf("%s: %w", name, err)
	}
	if r.Port != relay.Port {
		d.DeleteWithin(r, ro.DeleteTimeout)
		return nil, fwd, ce, fmt.Errorf("%s: the relay template sets the relay port to %d; keep it at %d", name, r.Port, relay.Port)
	}
	rf := &relayForward{keeper: relay.NewKeeper(d, r, rs, podSel, ro.CheckEvery), fwd: fwd, log: d.Log}
	rf.keeper.DeleteTimeout = ro.DeleteTimeout
	fail := func(err error) (*relayForward, *Forward, *clusterEntry, error) {
		d.DeleteWithin(r, ro.DeleteTimeout)
		return nil, fwd, ce, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := d.WaitReady(ctx, r, ro.ReadyTimeout); err != nil {
		return fail(err)
	}
	if rs.Mode == "udp" {
		if err := rf.startUDP(ctx, bind, m.opts); err != nil {
			return fail(err)
		}
	} else if err := fwd.start(ctx); err != nil {
		return fail(err)
	}
	go rf.keeper.Run()
	return rf, fwd, ce, nil
}

// relayForward is the relay part of a forward: the Deployment (kept
// deployed while the forward runs, deleted when it stops) and, for UDP, the
// local socket and its client.
type relayForward struct {
	keeper *relay.Keeper
	fwd    *Forward
	log    zerolog.Logger

	stopOnce  sync.Once
	udpCancel context.CancelFunc
	udpDone   chan struct{}
	pc        net.PacketConn // the local UDP socket; closing it releases what the helper holds for it
}

// startUDP binds the local UDP socket and runs the relay client, whose
// streams are connections of the pod forward to the relay.
func (rf *relayForward) startUDP(ctx context.Context, bind BindRequest, opts Options) error {
	fwd := rf.fwd
	pc, err := listenUDP(ctx, fwd.opts.Binder, bind)
	if err != nil {
		return err
	}
	streams := newPipeListener(pc.LocalAddr())
	fwd.opts.Binder = streams // the pod forward's "listener" is the client's streams
	if err := fwd.start(ctx); err != nil {
		pc.Close()
		return err
	}
	fwd.setState(func(s *State) { s.Address = pc.LocalAddr().String() })
	cctx, cancel := context.WithCancel(context.Background())
	rf.udpCancel, rf.udpDone, rf.pc = cancel, make(chan struct{}), pc
	sock := pc
	if u, ok := pc.(unwrapper); ok {
		sock = u.Unwrap()
	}
	client := udprelay.New(sock, streams.dial, udprelay.Options{Logger: fwd.log, MaxBackoff: opts.Backoff.Max})
	go func() {
		defer close(rf.udpDone)
		client.Run(cctx)
	}()
	return nil
}

// listenUDP binds the forward's local UDP socket with b when it can bind
// packet sockets (the helper's binder does, for low ports, allocated
// loopback addresses and hostnames), else directly.
func listenUDP(ctx context.Context, b Binder, req BindRequest) (net.PacketConn, error) {
	pb, ok := b.(PacketBinder)
	if !ok {
		pb = DirectBinder{}
	}
	return pb.ListenPacket(ctx, req)
}

// unwrapper is a socket from the helper that releases its address and
// hosts lines on Close but hands out the *net.UDPConn inside, which the
// relay client's fast path wants.
type unwrapper interface{ Unwrap() net.PacketConn }

// stop runs after the pod forward has stopped: end the UDP client, delete
// the relay.
func (rf *relayForward) stop() {
	rf.stopOnce.Do(func() {
		rf.keeper.Stop()
		if rf.udpCancel != nil {
			rf.udpCancel()
			<-rf.udpDone
			// The client closed the socket; this also gives back a
			// helper-allocated address and the hosts lines.
			if err := rf.pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				rf.log.Warn().Err(err).Msg("releasing the UDP socket's address and hosts entries")
			}
		}
		rf.keeper.Delete()
	})
}

// pipeListener is an in-memory listener: dial hands one end of a net.Pipe
// to Accept. It is also the Binder of a UDP forward's pod forward.
type pipeListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener(addr net.Addr) *pipeListener {
	return &pipeListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Listen implements Binder: the listener is already made.
func (l *pipeListener) Listen(context.Context, BindRequest) (net.Listener, error) { return l, nil }

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

// dial is the udprelay.OpenStream: a new connection of the pod forward.
func (l *pipeListener) dial(ctx context.Context) (io.ReadWriteCloser, error) {
	a, b := net.Pipe()
	select {
	case l.conns <- b:
		return a, nil
	case <-l.closed:
		return nil, errors.New("forward stopped")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
