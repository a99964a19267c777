package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// nodePods is the node's view of its pods: each running pod has its own
// backends, open port-forward streams and upgraded connections.
// It implements portforward.PortForwarder.
type nodePods struct {
	logger *log.Logger
	// started records a pod's backends on the pod, which lets KWOK's
	// pod-ready stage mark it ready: containers run before a pod is ready.
	started func(pod *corev1.Pod, backends []backend)

	mu     sync.Mutex
	pods   map[types.UID]*podState
	images map[string]string // image (or repository) -> backend address
}

func newNodePods(logger *log.Logger, started func(*corev1.Pod, []backend)) *nodePods {
	return &nodePods{logger: logger, started: started, pods: map[types.UID]*podState{}, images: map[string]string{}}
}

type podState struct {
	uid       types.UID
	namespace string
	name      string
	logger    *log.Logger

	mu       sync.Mutex
	pod      *corev1.Pod // latest seen, for annotations
	backends []backend
	streams  map[*pfStream]struct{}
	conns    map[net.Conn]struct{}
	stallEnd time.Time
	stopped  bool
}

// pfStream is one forwarded TCP connection: a port-forward data stream and
// the backend connection it is copied to.
type pfStream struct {
	backend net.Conn
	once    sync.Once
	reason  string
	done    chan struct{}
}

func (s *pfStream) kill(reason string) {
	s.once.Do(func() {
		s.reason = reason
		close(s.done)
		s.backend.Close()
	})
}

// sync starts a pod's backends when the pod appears on the node, and stops
// them when it is terminating or has finished, as a kubelet would kill its
// containers.
func (n *nodePods) sync(pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil {
		n.remove(pod.UID, "terminating")
		return
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		n.remove(pod.UID, "finished")
		return
	}
	n.mu.Lock()
	p, ok := n.pods[pod.UID]
	if !ok {
		p = &podState{
			uid: pod.UID, namespace: pod.Namespace, name: pod.Name, logger: n.logger, pod: pod,
			streams: map[*pfStream]struct{}{}, conns: map[net.Conn]struct{}{},
		}
		n.pods[pod.UID] = p
	}
	n.mu.Unlock()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.pod = pod
	if ok || p.stopped {
		return
	}
	bs, err := startBackends(pod)
	if err != nil {
		n.logger.Printf("pod %s/%s: start backends: %v", pod.Namespace, pod.Name, err)
	}
	p.backends = bs
	n.logger.Printf("pod %s/%s (%s): %d backends started", pod.Namespace, pod.Name, pod.UID, len(bs))
	go n.started(pod, bs)
}

func (n *nodePods) remove(uid types.UID, why string) {
	n.mu.Lock()
	p := n.pods[uid]
	delete(n.pods, uid)
	n.mu.Unlock()
	if p != nil {
		p.stop(why)
	}
}

func (n *nodePods) stopAll() {
	n.mu.Lock()
	pods := n.pods
	n.pods = map[types.UID]*podState{}
	n.mu.Unlock()
	for _, p := range pods {
		p.stop("kubelet stopping")
	}
}

// lookup finds a running pod by namespace and name (and UID when given).
func (n *nodePods) lookup(ns, name, uid string) *podState {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.pods {
		if p.namespace == ns && p.name == name && (uid == "" || string(p.uid) == uid) {
			return p
		}
	}
	return nil
}

func (n *nodePods) byUID(uid string) *podState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pods[types.UID(uid)]
}

// stop kills the pod's backends, its open streams and its upgraded
// connections: a deleted pod's port-forwards break, as with a real kubelet.
func (p *podState) stop(why string) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	bs := p.backends
	p.backends = nil
	p.mu.Unlock()

	// Streams first, so their error names the reason rather than the reset.
	n := p.cut(fmt.Sprintf("pod %s/%s %s", p.namespace, p.name, why))
	for _, b := range bs {
		b.Close()
	}
	p.logger.Printf("pod %s/%s (%s) %s: backends stopped, %d streams closed", p.namespace, p.name, p.uid, why, n)
}

// cut closes every open stream of the pod; the clients see an error on the
// stream's error channel and a reset data stream.
func (p *podState) cut(reason string) int {
	p.mu.Lock()
	ss := make([]*pfStream, 0, len(p.streams))
	for s := range p.streams {
		ss = append(ss, s)
	}
	p.mu.Unlock()
	for _, s := range ss {
		s.kill(reason)
	}
	return len(ss)
}

// drop closes the upgraded connections serving this pod, as if the network
// between API server and node failed.
func (p *podState) drop() int {
	p.mu.Lock()
	cs := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	return len(cs)
}

func (p *podState) stall(d time.Duration) {
	p.mu.Lock()
	p.stallEnd = time.Now().Add(d)
	p.mu.Unlock()
}

func (p *podState) stalledFor() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Until(p.stallEnd)
}

func (p *podState) addConn(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *podState) removeConn(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// target is where a port-forward to port goes: an annotated override, or
// the pod's own backend for that container port.
func (p *podState) target(port int32, imageRoute func(*corev1.Pod) string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return "", fmt.Errorf("pod %s/%s is not running", p.namespace, p.name)
	}
	if a := backendOverride(p.pod, port); a != "" {
		return a, nil
	}
	if a := imageRoute(p.pod); a != "" {
		return a, nil
	}
	for _, b := range p.backends {
		if b.Port() == port && b.Protocol() == corev1.ProtocolTCP {
			return b.Addr(), nil
		}
	}
	// What a real runtime reports when nothing listens on the port.
	return "", fmt.Errorf("failed to connect to localhost:%d inside namespace of pod %s/%s: connection refused", port, p.namespace, p.name)
}

// PortForward implements portforward.PortForwarder: it copies one stream to
// a fresh connection to the pod's backend until either side ends, the pod
// stops or the control endpoint cuts it.
func (n *nodePods) PortForward(ctx context.Context, _ string, uid string, port int32, stream io.ReadWriteCloser) error {
	p := n.byUID(uid)
	if p == nil {
		return fmt.Errorf("pod %s not found", uid)
	}
	addr, err := p.target(port, n.imageRoute)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("pod %s/%s port %d: %w", p.namespace, p.name, port, err)
	}
	s := &pfStream{backend: conn, done: make(chan struct{})}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		conn.Close()
		return fmt.Errorf("pod %s/%s is not running", p.namespace, p.name)
	}
	p.streams[s] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.streams, s)
		p.mu.Unlock()
		s.kill("")
	}()

	toBackend, fromBackend := make(chan error, 1), make(chan error, 1)
	go func() {
		err := p.copy(s, conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok && err == nil {
			_ = tc.CloseWrite() // pass the client's half-close on
		}
		toBackend <- err
	}()
	go func() { fromBackend <- p.copy(s, stream, conn) }()

	// Like the container runtimes: done when the backend has said all it
	// will say, or on the first error.
	for {
		var err error
		select {
		case <-s.done:
			return errors.New(s.reason)
		case err = <-toBackend:
			toBackend = nil
		case err = <-fromBackend:
			fromBackend = nil
		}
		select {
		case <-s.done:
			return errors.New(s.reason)
		default:
		}
		if err != nil {
			return fmt.Errorf("pod %s/%s port %d: %w", p.namespace, p.name, port, err)
		}
		if fromBackend == nil {
			return nil
		}
	}
}

// copy is io.Copy that holds data while the pod is stalled.
func (p *podState) copy(s *pfStream, dst io.Writer, src io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			if d := p.stalledFor(); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-s.done:
					t.Stop()
					return net.ErrClosed
				}
			}
			if _, err := dst.Write(buf[:nr]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// setImageRoute sends port-forwards to pods running image (an exact image
// reference, or a repository without tag or digest) to addr; "" removes it.
func (n *nodePods) setImageRoute(image, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr == "" {
		delete(n.images, image)
		return
	}
	n.images[image] = addr
}

func (n *nodePods) imageRoute(pod *corev1.Pod) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.images) == 0 {
		return ""
	}
	for _, c := range pod.Spec.Containers {
		if a := n.images[c.Image]; a != "" {
			return a
		}
		if a := n.images[imageRepository(c.Image)]; a != "" {
			return a
		}
	}
	return ""
}

// imageRepository strips a tag or digest: "ghcr.io/x/y:1.2" -> "ghcr.io/x/y".
func imageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image
}

// podInfo is what GET /pods on the control endpoint reports.
type podInfo struct {
	Namespace   string        `json:"namespace"`
	Name        string        `json:"name"`
	UID         string        `json:"uid"`
	Backends    []backendInfo `json:"backends"`
	Streams     int           `json:"streams"`
	Connections int           `json:"connections"`
}

type backendInfo struct {
	Name     string `json:"name,omitempty"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
	Kind     string `json:"kind"`
	Address  string `json:"address"`
}

func (n *nodePods) list() []podInfo {
	n.mu.Lock()
	pods := make([]*podState, 0, len(n.pods))
	for _, p := range n.pods {
		pods = append(pods, p)
	}
	n.mu.Unlock()
	out := make([]podInfo, 0, len(pods))
	for _, p := range pods {
		p.mu.Lock()
		pi := podInfo{Namespace: p.namespace, Name: p.name, UID: string(p.uid), Streams: len(p.streams), Connections: len(p.conns), Backends: []backendInfo{}}
		for _, b := range p.backends {
			pi.Backends = append(pi.Backends, backendInfo{Name: b.Name(), Port: b.Port(), Protocol: string(b.Protocol()), Kind: b.Kind(), Address: b.Addr()})
		}
		p.mu.Unlock()
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}
