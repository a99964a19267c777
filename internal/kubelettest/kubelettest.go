// Package kubelettest runs the Kubernetes port-forward data path in process,
// for fast tests of the forwarding engine: the kubelet's own port-forward
// server (k8s.io/cri-streaming) behind the API server's own upgrade proxy and
// WebSocket tunnelling handlers (k8s.io/apimachinery, k8s.io/apiserver),
// each on its own loopback HTTP(S) server, exactly as a real API server and
// kubelet chain them. Only the pods are simulated: each pod's ports map to
// local backend addresses that the test chooses.
//
// It serves only pods/{name}/portforward. Tests that need Services,
// EndpointSlices or Pods pair it with client-go's fake clientset (or with the
// real dev cluster in e2e tests).
//
// Hooks let a test delete a pod (its streams are cut and new ones refused, as
// when a real pod's network namespace goes away), cut one stream, close the
// upgraded connections, deny the RBAC verbs port-forward needs, and stop and
// restart the API server on the same address.
package kubelettest

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	upgradeproxy "k8s.io/apimachinery/pkg/util/proxy"
	apiproxy "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/client-go/rest"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Token is the bearer token the API server accepts.
const Token = "kubelettest-admin-token"

// Server is an API server front and a kubelet back end for port-forward.
type Server struct {
	kubelet *httptest.Server

	mu       sync.Mutex
	api      *httptest.Server
	apiAddr  string
	apiConns map[net.Conn]struct{} // hijacked (upgraded) client connections
	pods     map[string]*pod       // "ns/name"
	streams  map[int]*Stream
	nextID   int
	denied   map[string]bool          // "get", "create"
	upgrades int                      // upgraded connections served by the API front
	holds    map[string]chan struct{} // "ns/name": streams wait for it to close
}

type pod struct {
	ports    map[int32]string // container port -> backend address
	sessions map[net.Conn]struct{}
}

// Stream is one port-forward stream pair being served.
type Stream struct {
	ID        int
	Namespace string
	Pod       string
	Port      int32
	cut       chan struct{}
	once      sync.Once
}

// Start starts both servers on loopback ports. Close stops them.
func Start() (*Server, error) {
	s := &Server{
		apiConns: map[net.Conn]struct{}{},
		pods:     map[string]*pod{},
		streams:  map[int]*Stream{},
		denied:   map[string]bool{},
		holds:    map[string]chan struct{}{},
	}
	s.kubelet = httptest.NewServer(http.HandlerFunc(s.serveKubelet))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.kubelet.Close()
		return nil, fmt.Errorf("listen for the API server: %w", err)
	}
	s.apiAddr = ln.Addr().String()
	s.startAPI(ln)
	return s, nil
}

func (s *Server) startAPI(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/namespaces/{ns}/pods/{name}/portforward", s.servePortForward)
	api := httptest.NewUnstartedServer(mux)
	api.Listener.Close()
	api.Listener = ln
	api.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateHijacked {
			s.mu.Lock()
			s.apiConns[c] = struct{}{}
			s.upgrades++
			s.mu.Unlock()
		}
	}
	api.StartTLS()
	s.mu.Lock()
	s.api = api
	s.mu.Unlock()
}

// RESTConfig returns a client config for the API server (TLS, bearer token).
func (s *Server) RESTConfig() *rest.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &rest.Config{
		Host:            "https://" + s.apiAddr,
		BearerToken:     Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM(s.api)},
	}
}

// Close stops both servers and closes every upgraded connection.
func (s *Server) Close() {
	s.StopAPI()
	s.mu.Lock()
	for _, p := range s.pods {
		for c := range p.sessions {
			c.Close()
		}
	}
	for _, st := range s.streams {
		st.close()
	}
	s.mu.Unlock()
	s.kubelet.Close()
}

// StopAPI stops the API server and drops every upgraded connection through
// it, as when the API server process dies. StartAPI brings it back on the
// same address.
func (s *Server) StopAPI() {
	s.mu.Lock()
	api := s.api
	s.api = nil
	s.mu.Unlock()
	if api == nil {
		return
	}
	// Stop accepting first, so nothing is upgraded after the sweep below.
	api.Listener.Close()
	api.CloseClientConnections()
	api.Close()
	s.mu.Lock()
	conns := s.apiConns
	s.apiConns = map[net.Conn]struct{}{}
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// StartAPI restarts a stopped API server on its old address.
func (s *Server) StartAPI() error {
	s.mu.Lock()
	running := s.api != nil
	s.mu.Unlock()
	if running {
		return nil
	}
	var ln net.Listener
	var err error
	// The old socket may linger briefly; retry for a bounded time.
	for i := 0; i < 50; i++ {
		ln, err = net.Listen("tcp", s.apiAddr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("relisten on %s: %w", s.apiAddr, err)
	}
	s.startAPI(ln)
	return nil
}

// Upgrades reports how many upgraded connections the API server has accepted.
func (s *Server) Upgrades() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upgrades
}

// Deny makes the API server refuse port-forward requests needing verb, as
// RBAC would: SPDY (POST) needs "create"; WebSocket (GET) needs "get" and,
// as since Kubernetes 1.35, "create". Allow undoes it.
func (s *Server) Deny(verb string) {
	s.mu.Lock()
	s.denied[verb] = true
	s.mu.Unlock()
}

// Allow undoes Deny.
func (s *Server) Allow(verb string) {
	s.mu.Lock()
	delete(s.denied, verb)
	s.mu.Unlock()
}

// AddPod makes pod ns/name exist on the node; ports maps its container
// ports to backend addresses (host:port) that serve them.
func (s *Server) AddPod(ns, name string, ports map[int32]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &pod{ports: map[int32]string{}, sessions: map[net.Conn]struct{}{}}
	for k, v := range ports {
		p.ports[k] = v
	}
	s.pods[ns+"/"+name] = p
}

// DeletePod removes a pod: its open streams are cut with an error and new
// streams to it fail, as with a real kubelet when the pod's network
// namespace goes away. Upgraded connections stay open (the kubelet keeps
// them), unless closeSessions is set.
func (s *Server) DeletePod(ns, name string, closeSessions bool) {
	s.mu.Lock()
	p := s.pods[ns+"/"+name]
	delete(s.pods, ns+"/"+name)
	var cut []*Stream
	for _, st := range s.streams {
		if st.Namespace == ns && st.Pod == name {
			cut = append(cut, st)
		}
	}
	s.mu.Unlock()
	for _, st := range cut {
		st.close()
	}
	if p != nil && closeSessions {
		s.mu.Lock()
		for c := range p.sessions {
			c.Close()
		}
		s.mu.Unlock()
	}
}

// CloseSessions closes the kubelet side of every upgraded connection to a
// pod (a kubelet restart or a broken node connection).
func (s *Server) CloseSessions(ns, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[ns+"/"+name]; p != nil {
		for c := range p.sessions {
			c.Close()
		}
	}
}

// Streams lists the stream pairs being served to pod ns/name, oldest first.
func (s *Server) Streams(ns, name string) []*Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Stream
	for _, st := range s.streams {
		if st.Namespace == ns && st.Pod == name {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Hold makes the kubelet keep new stream pairs to pod ns/name waiting,
// before it looks the pod up, until release is called: a test can then
// order what the client does against the kubelet's answer (for example,
// have the client's bytes sent before a refusal arrives).
func (s *Server) Hold(ns, name string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.holds[ns+"/"+name] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.holds[ns+"/"+name] == ch {
				delete(s.holds, ns+"/"+name)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Cut ends one stream pair with an error on its error stream, as when the
// connection inside the pod is reset.
func (s *Server) Cut(st *Stream) { st.close() }

func (st *Stream) close() { st.once.Do(func() { close(st.cut) }) }

func (s *Server) servePortForward(w http.ResponseWriter, req *http.Request) {
	ns, name := req.PathValue("ns"), req.PathValue("name")
	if req.Header.Get("Authorization") != "Bearer "+Token {
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
		return
	}
	verb := "create"
	if req.Method == http.MethodGet {
		verb = "get"
	}
	s.mu.Lock()
	denied := s.denied[verb]
	if verb == "get" && s.denied["create"] {
		// Kubernetes >= 1.35 also checks "create" for WebSocket upgrades
		// (AuthorizePodWebsocketUpgradeCreatePermission).
		verb, denied = "create", true
	}
	_, exists := s.pods[ns+"/"+name]
	s.mu.Unlock()
	if denied {
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, fmt.Sprintf(
			"pods %q is forbidden: User \"admin\" cannot %s resource \"pods/portforward\" in API group \"\" in the namespace %q",
			name, verb, ns))
		return
	}
	if !exists {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("pods %q not found", name))
		return
	}
	loc, _ := url.Parse(s.kubelet.URL + "/portForward/" + ns + "/" + name)
	loc.RawQuery = req.URL.RawQuery
	// The API server's own chain (pkg/registry/core/pod/rest PortForwardREST).
	h := upgradeproxy.NewUpgradeAwareHandler(loc, http.DefaultTransport, false, true, errorResponder{})
	apiproxy.NewTranslatingHandler(h, apiproxy.NewTunnelingHandler(h), wsstream.IsWebSocketRequestWithTunnelingProtocol).ServeHTTP(w, req)
}

type errorResponder struct{}

func (errorResponder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	writeStatus(w, http.StatusBadGateway, metav1.StatusReasonServiceUnavailable, err.Error())
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(st)
}

func (s *Server) serveKubelet(w http.ResponseWriter, req *http.Request) {
	var ns, name string
	if _, err := fmt.Sscanf(req.URL.Path, "/portForward/%s", &ns); err != nil {
		http.NotFound(w, req)
		return
	}
	for i := len(ns) - 1; i >= 0; i-- {
		if ns[i] == '/' {
			ns, name = ns[:i], ns[i+1:]
			break
		}
	}
	opts, err := portforward.NewV4Options(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := ns + "/" + name
	hw := &hijackRecorder{ResponseWriter: w, record: func(c net.Conn) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if p := s.pods[key]; p != nil {
			p.sessions[c] = struct{}{}
		}
	}}
	portforward.ServePortForward(hw, req, forwarder{s}, key, "uid-"+name, opts,
		4*time.Hour, 30*time.Second, portforward.SupportedProtocols)
}

type hijackRecorder struct {
	http.ResponseWriter
	record func(net.Conn)
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := h.ResponseWriter.(http.Hijacker).Hijack()
	if err == nil {
		h.record(c)
	}
	return c, rw, err
}

// forwarder is the kubelet's PortForwarder: it connects a stream to the
// pod's backend for that port.
type forwarder struct{ s *Server }

func (f forwarder) PortForward(ctx context.Context, key, _ string, port int32, stream io.ReadWriteCloser) error {
	s := f.s
	s.mu.Lock()
	hold := s.holds[key]
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	p := s.pods[key]
	var addr string
	if p != nil {
		addr = p.ports[port]
	}
	ns, name := splitKey(key)
	s.nextID++
	st := &Stream{ID: s.nextID, Namespace: ns, Pod: name, Port: port, cut: make(chan struct{})}
	if p != nil && addr != "" {
		s.streams[st.ID] = st
	}
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("pod %s not found", key)
	}
	if addr == "" {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace of pod %s: connection refused", port, key)
	}
	defer func() {
		s.mu.Lock()
		delete(s.streams, st.ID)
		s.mu.Unlock()
	}()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace of pod %s: %w", port, key, err)
	}
	defer conn.Close()

	// Half-close both ways, as the container runtime's port forward does.
	toPod := make(chan error, 1)
	fromPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		toPod <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	select {
	case <-st.cut:
		return errors.New("connection reset by test hook")
	case err := <-fromPod:
		if err != nil {
			return err
		}
		return nil
	}
}

func splitKey(key string) (string, string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

func caPEM(api *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
}
