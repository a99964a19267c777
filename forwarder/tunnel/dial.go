// Package tunnel is the port-forward data path: one upgraded connection to a
// pod through the API server (WebSocket tunnelling first, SPDY fallback), and
// a data+error stream pair per local TCP connection over it.
//
// Unlike client-go's PortForwarder, an error on one stream pair ends only
// that local connection; the upgraded connection stays up for the others.
// The connection sends SPDY pings and is closed when the API server stops
// answering, so a silent network loss is noticed within a bounded time.
package tunnel

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/websocket"
	"k8s.io/streaming/pkg/httpstream"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"

	"github.com/kftray-go/kftray/forwarder/kube"
)

// Transport selects how the upgraded connection is made.
type Transport string

const (
	// Auto tries WebSocket tunnelling and falls back to SPDY when the
	// server (or a proxy) cannot upgrade to it, as kubectl does.
	Auto Transport = ""
	// WebSocket is SPDY tunnelled in a WebSocket (GET, RBAC verb "get").
	WebSocket Transport = "websocket"
	// SPDY is a direct SPDY/3.1 upgrade (POST, RBAC verb "create").
	SPDY Transport = "spdy"
)

const protocolV1 = "portforward.k8s.io"

// Options tune a Conn.
type Options struct {
	Transport Transport
	// PingPeriod is how often a ping is sent; 0 means 5 s.
	PingPeriod time.Duration
	// DeadAfter closes the connection when a read has waited this long with
	// nothing arriving despite the pings (three times as long while a write
	// is blocked too: that may be a pod not reading); 0 means 4 ping periods.
	DeadAfter time.Duration
}

func (o Options) withDefaults() Options {
	if o.PingPeriod <= 0 {
		o.PingPeriod = 5 * time.Second
	}
	if o.DeadAfter <= 0 {
		o.DeadAfter = 4 * o.PingPeriod
	}
	return o
}

// PortForwardURL is the pods/portforward URL for a pod.
func PortForwardURL(cfg *rest.Config, namespace, pod string) (*url.URL, error) {
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API server URL: %w", err)
	}
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(pod) + "/portforward"
	return &u, nil
}

// Dial opens an upgraded port-forward connection to pod namespace/pod.
func Dial(ctx context.Context, cfg *rest.Config, namespace, pod string, opts Options) (*Conn, error) {
	opts = opts.withDefaults()
	u, err := PortForwardURL(cfg, namespace, pod)
	if err != nil {
		return nil, err
	}
	ws := &wsDialer{ctx: ctx, cfg: cfg, url: u, opts: opts}
	sp := &spdyDialer{ctx: ctx, cfg: cfg, url: u, opts: opts}
	var d httpstream.Dialer
	switch opts.Transport {
	case WebSocket:
		d = ws
	case SPDY:
		d = sp
	case Auto:
		d = portforward.NewFallbackDialerForStreaming(ws, sp, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	default:
		return nil, fmt.Errorf("unknown transport %q (want websocket, spdy or empty for automatic)", opts.Transport)
	}
	sc, proto, err := d.Dial(protocolV1)
	if err != nil {
		return nil, explainDial(cfg.Host, namespace, pod, opts.Transport, err)
	}
	if proto != protocolV1 {
		sc.Close()
		return nil, fmt.Errorf("port-forward to pod %s/%s: server chose protocol %q, want %q", namespace, pod, proto, protocolV1)
	}
	var act *activityConn
	used := SPDY
	if ws.act != nil && sp.act == nil {
		act, used = ws.act, WebSocket
	} else {
		act = sp.act
	}
	return newConn(sc, act, used, opts, namespace, pod), nil
}

// explainDial names the RBAC verb the transport needs when the API server
// refuses the upgrade.
func explainDial(host, ns, pod string, t Transport, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "forbidden") || strings.Contains(msg, "Forbidden"):
		// Since Kubernetes 1.35 a WebSocket upgrade (GET) is also checked
		// for "create" (AuthorizePodWebsocketUpgradeCreatePermission).
		need := map[Transport]string{
			WebSocket: "get and create pods/portforward",
			SPDY:      "create pods/portforward",
			Auto:      "create pods/portforward (and get, for the WebSocket transport)",
		}[t]
		return fmt.Errorf("permission denied to port-forward to pod %s/%s: RBAC must allow %s in namespace %q: %w", ns, pod, need, ns, err)
	case strings.Contains(msg, "not found"):
		return fmt.Errorf("pod %s/%s not found for port-forward: %w", ns, pod, err)
	case kube.IsUnreachable(err):
		return fmt.Errorf("port-forward to pod %s/%s: API server %s unreachable; check the cluster is running and reachable (VPN, proxy): %w", ns, pod, host, err)
	}
	return fmt.Errorf("port-forward to pod %s/%s via %s: %w", ns, pod, host, err)
}

// wsDialer upgrades to SPDY tunnelled over WebSocket, like client-go's
// tunnelingDialer, keeping the net.Conn so liveness can be watched.
type wsDialer struct {
	ctx  context.Context
	cfg  *rest.Config
	url  *url.URL
	opts Options
	act  *activityConn
}

func (d *wsDialer) Dial(protocols ...string) (httpstream.Connection, string, error) {
	rt, holder, err := websocket.RoundTripperFor(d.cfg)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, d.url.String(), nil)
	if err != nil {
		return nil, "", err
	}
	tunneled := make([]string, len(protocols))
	for i, p := range protocols {
		tunneled[i] = "SPDY/3.1+" + p
	}
	wsc, err := websocket.Negotiate(rt, holder, req, tunneled...)
	if err != nil {
		return nil, "", err
	}
	proto := strings.TrimPrefix(wsc.Subprotocol(), "SPDY/3.1+")
	d.act = newActivityConn(portforward.NewTunnelingConnection("client", wsc))
	sc, err := streamspdy.NewClientConnectionWithPings(&frameWriter{activityConn: d.act}, d.opts.PingPeriod)
	if err != nil {
		d.act.Close()
		d.act = nil
		return nil, "", err
	}
	return sc, proto, nil
}

// spdyDialer upgrades to SPDY/3.1 directly, like client-go's spdy dialer,
// keeping the net.Conn so liveness can be watched.
type spdyDialer struct {
	ctx  context.Context
	cfg  *rest.Config
	url  *url.URL
	opts Options
	act  *activityConn
}

// upgradeRT performs the upgrade request on a fresh connection and keeps it.
type upgradeRT struct {
	rt   *streamspdy.SpdyRoundTripper
	conn net.Conn
}

func (u *upgradeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Add(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
	req.Header.Add(httpstream.HeaderUpgrade, streamspdy.HeaderSpdy31)
	conn, err := u.rt.Dial(req)
	if err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	u.conn = conn
	return resp, nil
}

func (d *spdyDialer) Dial(protocols ...string) (httpstream.Connection, string, error) {
	tlsCfg, err := rest.TLSConfigFor(d.cfg)
	if err != nil {
		return nil, "", err
	}
	proxy := http.ProxyFromEnvironment
	if d.cfg.Proxy != nil {
		proxy = d.cfg.Proxy
	}
	srt, err := streamspdy.NewRoundTripperWithConfig(streamspdy.RoundTripperConfig{TLS: tlsCfg, Proxier: proxy})
	if err != nil {
		return nil, "", err
	}
	up := &upgradeRT{rt: srt}
	wrapped, err := rest.HTTPWrappersForConfig(d.cfg, up)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, d.url.String(), nil)
	if err != nil {
		return nil, "", err
	}
	for _, p := range protocols {
		req.Header.Add(httpstream.HeaderProtocolVersion, p)
	}
	resp, err := (&http.Client{Transport: wrapped}).Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("error sending request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		!strings.Contains(strings.ToLower(resp.Header.Get(httpstream.HeaderUpgrade)), strings.ToLower(streamspdy.HeaderSpdy31)) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if up.conn != nil {
			up.conn.Close()
		}
		return nil, "", fmt.Errorf("unable to upgrade connection: %s", statusMessage(resp.Status, body))
	}
	d.act = newActivityConn(up.conn)
	sc, err := streamspdy.NewClientConnectionWithPings(&frameWriter{activityConn: d.act}, d.opts.PingPeriod)
	if err != nil {
		d.act.Close()
		d.act = nil
		return nil, "", err
	}
	return sc, resp.Header.Get(httpstream.HeaderProtocolVersion), nil
}

func statusMessage(status string, body []byte) string {
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		return st.Message
	}
	if s := strings.TrimSpace(string(body)); s != "" {
		return s
	}
	return status
}

// activityConn records how long reads and writes have been waiting, so a
// connection whose peer stopped answering pings can be told from an idle
// one, and from one held up by a pod that does not read (backpressure).
type activityConn struct {
	net.Conn
	mu          sync.Mutex
	readingFrom time.Time // zero when no Read is in progress
	writingFrom time.Time // zero when no Write is in progress
}

func newActivityConn(c net.Conn) *activityConn { return &activityConn{Conn: c} }

func (a *activityConn) Read(p []byte) (int, error) {
	a.mu.Lock()
	a.readingFrom = time.Now()
	a.mu.Unlock()
	n, err := a.Conn.Read(p)
	a.mu.Lock()
	a.readingFrom = time.Time{}
	a.mu.Unlock()
	return n, err
}

func (a *activityConn) Write(p []byte) (int, error) {
	a.mu.Lock()
	a.writingFrom = time.Now()
	a.mu.Unlock()
	n, err := a.Conn.Write(p)
	a.mu.Lock()
	a.writingFrom = time.Time{}
	a.mu.Unlock()
	return n, err
}

// dead reports whether nothing has arrived for longer than after although
// the pings ask for answers. While a write is blocked the peer may just be
// slow to read (a pod not reading an upload stalls the whole connection),
// so then the connection is given blockedFactor times longer.
func (a *activityConn) dead(now time.Time, after time.Duration) bool {
	const blockedFactor = 3
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.readingFrom.IsZero() || now.Sub(a.readingFrom) <= after {
		return false
	}
	if !a.writingFrom.IsZero() && now.Sub(a.readingFrom) <= blockedFactor*after {
		return false
	}
	return true
}

var errDead = errors.New("no answer to pings: connection presumed dead")

// frameWriter hands each SPDY frame to the connection in one Write.
// spdystream's framer writes a frame in pieces (a data frame as 4 + 4
// header bytes and then the payload), and every Write becomes a TLS record
// and a syscall, or a whole WebSocket message when tunnelled: three per
// frame instead of one. The framer writes one frame at a time, under its
// lock, so buffering until the frame's length is complete is safe.
type frameWriter struct {
	*activityConn
	mu  sync.Mutex
	buf []byte
}

const spdyHeaderLen = 8

func (w *frameWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for len(w.buf) >= spdyHeaderLen {
		// Data and control frames both keep a 24-bit length in bytes 5-7.
		n := spdyHeaderLen + int(binary.BigEndian.Uint32(w.buf[4:8])&0xffffff)
		if len(w.buf) < n {
			break
		}
		if _, err := w.activityConn.Write(w.buf[:n]); err != nil {
			return 0, err
		}
		rest := copy(w.buf, w.buf[n:])
		w.buf = w.buf[:rest]
	}
	if cap(w.buf) > 256<<10 && len(w.buf) == 0 {
		w.buf = nil // do not keep a large buffer after an unusually big frame
	}
	return len(p), nil
}
