package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/cri-streaming/pkg/streaming/portforward"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
)

// The kubelet's own defaults (streamingConnectionIdleTimeout, and
// DefaultStreamCreationTimeout in pkg/kubelet/server).
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = 30 * time.Second
)

type connKey struct{}

// runKubelet serves the node's kubelet port-forward endpoint with the
// kubelet's own streaming code, giving each pod on the node its own local
// backends (see backends.go). Every other kubelet path (logs, exec, metrics)
// is proxied to KWOK's server when --kwok-address is set.
func runKubelet(args []string) int {
	fs := flag.NewFlagSet("kubelet", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to watch pods with (required)")
	nodeName := fs.String("node-name", "", "node whose pods to serve (required)")
	addr := fs.String("address", "127.0.0.1:10250", "TLS listen address of the kubelet endpoint")
	certFile := fs.String("tls-cert-file", "", "serving certificate (required)")
	keyFile := fs.String("tls-private-key-file", "", "serving key (required)")
	clientCA := fs.String("client-ca-file", "", "if set, require client certificates signed by this CA")
	controlAddr := fs.String("control-address", "127.0.0.1:0", "plain-HTTP loopback control endpoint (cut/stall/drop streams, list backends)")
	kwokAddr := fs.String("kwok-address", "", "host:port of KWOK's kubelet server, for paths other than portForward")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *kubeconfig == "" || *nodeName == "" || *certFile == "" || *keyFile == "" {
		fmt.Fprintln(os.Stderr, "kubelet: --kubeconfig, --node-name, --tls-cert-file and --tls-private-key-file are required")
		return 2
	}
	logger := log.New(os.Stderr, "kubelet: ", log.LstdFlags|log.Lmicroseconds)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serveKubelet(ctx, logger, kubeletConfig{
		kubeconfig: *kubeconfig, nodeName: *nodeName, addr: *addr,
		certFile: *certFile, keyFile: *keyFile, clientCA: *clientCA,
		controlAddr: *controlAddr, kwokAddr: *kwokAddr,
	}); err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}

type kubeletConfig struct {
	kubeconfig, nodeName, addr, certFile, keyFile, clientCA, controlAddr, kwokAddr string
}

func serveKubelet(ctx context.Context, logger *log.Logger, cfg kubeletConfig) error {
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", cfg.kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}

	node := newNodePods(logger, func(pod *corev1.Pod, bs []backend) {
		if err := annotateBackends(ctx, client, pod, bs); err != nil {
			logger.Printf("pod %s/%s: %v", pod.Namespace, pod.Name, err)
		}
	})
	defer node.stopAll()

	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.nodeName).String()
		}))
	podInformer := factory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { node.sync(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { node.sync(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				node.remove(p.UID, "deleted")
			}
		},
	}); err != nil {
		return fmt.Errorf("pod informer: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	tlsCfg, err := serverTLS(cfg.certFile, cfg.keyFile, cfg.clientCA)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	pf := func(w http.ResponseWriter, r *http.Request) {
		node.servePortForward(w, r, r.PathValue("ns"), r.PathValue("pod"), r.PathValue("uid"))
	}
	mux.HandleFunc("/portForward/{ns}/{pod}", pf)
	mux.HandleFunc("/portForward/{ns}/{pod}/{uid}", pf)
	if cfg.kwokAddr != "" {
		mux.Handle("/", kwokProxy(cfg.kwokAddr))
	}
	srv := &http.Server{
		Handler:   mux,
		TLSConfig: tlsCfg,
		// SPDY and WebSocket upgrades need HTTP/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          logger,
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.addr, err)
	}
	ctl, err := net.Listen("tcp", cfg.controlAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen control %s: %w", cfg.controlAddr, err)
	}
	ctlSrv := &http.Server{Handler: node.controlHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}

	errc := make(chan error, 2)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	go func() { errc <- ctlSrv.Serve(ctl) }()
	// The harness reads this line to learn the control address.
	fmt.Fprintf(os.Stderr, "kubelet: serving %s for node %s, control http://%s\n", ln.Addr(), cfg.nodeName, ctl.Addr())

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Hijacked (upgraded) connections are not closed by Close; stopAll does that.
	srv.Close()
	ctlSrv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func serverTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load serving certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no certificates", clientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// kwokProxy forwards the kubelet paths we do not implement (logs, exec,
// attach, metrics) to KWOK, which simulates them from its CRDs.
func kwokProxy(addr string) http.Handler {
	target := &url.URL{Scheme: "https", Host: addr}
	p := httputil.NewSingleHostReverseProxy(target)
	p.Transport = &http.Transport{
		// KWOK serves our own kubelet certificate on loopback.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}
	return p
}

func (n *nodePods) servePortForward(w http.ResponseWriter, r *http.Request, ns, name, uid string) {
	p := n.lookup(ns, name, uid)
	if p == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s not found on this node", ns, name), http.StatusNotFound)
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		if !p.addConn(c) {
			http.Error(w, fmt.Sprintf("pod %s/%s is terminating", ns, name), http.StatusNotFound)
			return
		}
		defer p.removeConn(c)
	}
	portforward.ServePortForward(w, r, n, p.namespace+"/"+p.name, string(p.uid), opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

func (n *nodePods) controlHandler() http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	pod := func(w http.ResponseWriter, r *http.Request) *podState {
		ns, name := r.FormValue("namespace"), r.FormValue("name")
		p := n.lookup(ns, name, "")
		if p == nil {
			http.Error(w, fmt.Sprintf("pod %s/%s is not running on this node", ns, name), http.StatusNotFound)
		}
		return p
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /pods", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, n.list()) })
	mux.HandleFunc("POST /cut", func(w http.ResponseWriter, r *http.Request) {
		if p := pod(w, r); p != nil {
			writeJSON(w, map[string]int{"streams": p.cut("cut by devcluster control")})
		}
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		if p := pod(w, r); p != nil {
			writeJSON(w, map[string]int{"connections": p.drop()})
		}
	})
	mux.HandleFunc("POST /image-route", func(w http.ResponseWriter, r *http.Request) {
		image, addr := r.FormValue("image"), r.FormValue("addr")
		if image == "" {
			http.Error(w, "image: required", http.StatusBadRequest)
			return
		}
		if addr != "" {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				http.Error(w, "addr: want host:port: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		n.setImageRoute(image, addr)
		writeJSON(w, map[string]string{"image": image, "addr": addr})
	})
	mux.HandleFunc("POST /stall", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.FormValue("duration"))
		if err != nil || d < 0 {
			http.Error(w, "duration: want a Go duration such as 10s", http.StatusBadRequest)
			return
		}
		if p := pod(w, r); p != nil {
			p.stall(d)
			writeJSON(w, map[string]string{"stalled": d.String()})
		}
	})
	return mux
}

// annotationBackends lists a running pod's backends, "<port>/<protocol>" to
// 127.0.0.1:N; KWOK's pod-ready stage waits for it.
const annotationBackends = "devcluster.kftray.dev/backends"

func annotateBackends(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, bs []backend) error {
	m := map[string]string{}
	for _, b := range bs {
		m[fmt.Sprintf("%d/%s", b.Port(), b.Protocol())] = b.Addr()
	}
	val, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// The UID makes the patch fail rather than touch a newer pod of the same name.
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":         pod.UID,
		"annotations": map[string]string{annotationBackends: string(val)},
	}})
	if err != nil {
		return err
	}
	// Retry while the API server is away (fault tests stop it).
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		_, err = client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("record backends: %w", err)
	}
	return nil
}

// annotationBackendAddr routes every port-forward to the pod to host:port,
// a process the test runs itself; annotationBackendAddr + "-<port>" does it
// for one port.
const annotationBackendAddr = "devcluster.kftray.dev/backend-addr"

func backendOverride(p *corev1.Pod, port int32) string {
	if a := p.Annotations[fmt.Sprintf("%s-%d", annotationBackendAddr, port)]; a != "" {
		return a
	}
	return strings.TrimSpace(p.Annotations[annotationBackendAddr])
}
