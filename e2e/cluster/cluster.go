package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/kftray-go/kftray/internal/envknob"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

//go:embed kwok-stages.yaml
var kwokStages []byte

// Options configures Start. The zero value is a fine test cluster.
type Options struct {
	// Binary is the devcluster multi-call binary; default: Binary().
	Binary string
	// Dir holds PKI, data, logs and the kubeconfig; default: a new temp
	// directory, removed by Stop. A given Dir is kept.
	Dir string
	// Context names the kubeconfig context (and cluster and user); default "devcluster".
	Context string
	// NodeName of the one node; default "devcluster-node".
	NodeName string
	// StartTimeout bounds Start; default 60 s.
	StartTimeout time.Duration
}

// Cluster is a running dev cluster.
type Cluster struct {
	Dir        string // PKI, etcd data, logs/<component>.log, kubeconfig
	Kubeconfig string // path of a kubeconfig with one context, Context
	Context    string
	NodeName   string
	Client     kubernetes.Interface
	RESTConfig *rest.Config
	// ControlURL is the kubelet's loopback control endpoint (see package doc).
	ControlURL string

	bin     string
	tempDir bool
	pki     pki
	ports   ports
	spawn   *spawner

	mu    sync.Mutex // guards procs
	procs map[string]*proc
}

type ports struct {
	etcd, etcdPeer, apiserver, kubelet, kwok, control int
}

// Component names, in start order; Stop goes in reverse.
var order = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubelet"}

// Start brings up etcd, the API server, controller-manager, scheduler, KWOK
// and the port-forward kubelet, registers the node and waits until pods can
// be scheduled on it. On error nothing is left running.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Context == "" {
		opts.Context = "devcluster"
	}
	if opts.NodeName == "" {
		opts.NodeName = "devcluster-node"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	bin := opts.Binary
	if bin == "" {
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("devcluster binary: %w (build it with scripts/devcluster/build)", err)
	}
	c = &Cluster{bin: bin, Context: opts.Context, NodeName: opts.NodeName, procs: map[string]*proc{}}
	if opts.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "devcluster-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	} else {
		c.Dir, err = filepath.Abs(opts.Dir)
		if err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	for _, d := range []string{"logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o700); err != nil {
			return c, err
		}
	}
	if c.pki, err = newPKI(filepath.Join(c.Dir, "pki"), c.NodeName); err != nil {
		return c, fmt.Errorf("generate PKI: %w", err)
	}
	if c.ports, err = freePorts(); err != nil {
		return c, err
	}
	c.ControlURL = fmt.Sprintf("http://127.0.0.1:%d", c.ports.control)
	if err := c.writeKubeconfig(); err != nil {
		return c, err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "kwok.yaml"), kwokStages, 0o600); err != nil {
		return c, err
	}
	if c.RESTConfig, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return c, fmt.Errorf("load %s: %w", c.Kubeconfig, err)
	}
	if c.Client, err = kubernetes.NewForConfig(c.RESTConfig); err != nil {
		return c, err
	}
	c.spawn = newSpawner()

	if err := c.startEtcd(ctx); err != nil {
		return c, err
	}
	if err := c.StartAPIServer(ctx); err != nil {
		return c, err
	}
	// The node exists before KWOK starts so that KWOK adopts it at once.
	if err := c.createNode(ctx); err != nil {
		return c, err
	}
	for _, name := range order[2:] {
		if err := c.startProc(name, c.args(name)); err != nil {
			return c, err
		}
	}
	if err := c.waitUsable(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// Stop stops every component in reverse start order, waiting for each, and
// removes a temporary Dir. It is safe to call more than once.
func (c *Cluster) Stop() {
	for i := len(order) - 1; i >= 0; i-- {
		c.mu.Lock()
		p := c.procs[order[i]]
		c.mu.Unlock()
		if p != nil {
			p.stop(10 * time.Second)
		}
	}
	c.mu.Lock()
	if c.spawn != nil {
		c.spawn.close()
		c.spawn = nil
	}
	c.mu.Unlock()
	if c.tempDir && envknob.Get(envknob.DevclusterKeep) == "" {
		_ = os.RemoveAll(c.Dir)
	}
}

// Log returns the path of a component's log file.
func (c *Cluster) Log(component string) string {
	return filepath.Join(c.Dir, "logs", component+".log")
}

func (c *Cluster) args(name string) []string {
	p := c.pki.path
	kc := c.Kubeconfig
	switch name {
	case "etcd":
		return []string{
			"--data-dir=" + filepath.Join(c.Dir, "etcd"),
			fmt.Sprintf("--listen-client-url=http://127.0.0.1:%d", c.ports.etcd),
			fmt.Sprintf("--listen-peer-url=http://127.0.0.1:%d", c.ports.etcdPeer),
		}
	case "kube-apiserver":
		return []string{
			fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", c.ports.etcd),
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(c.ports.apiserver),
			"--cert-dir=" + filepath.Join(c.Dir, "apiserver-certs"),
			"--tls-cert-file=" + p(apiserverCert), "--tls-private-key-file=" + p(apiserverKey),
			"--client-ca-file=" + p(caCert),
			"--kubelet-certificate-authority=" + p(caCert),
			"--kubelet-client-certificate=" + p(kubeletClientCert), "--kubelet-client-key=" + p(kubeletClientKey),
			"--kubelet-preferred-address-types=InternalIP",
			"--token-auth-file=" + p(tokenFile),
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + p(saPub), "--service-account-signing-key-file=" + p(saKey),
			"--service-cluster-ip-range=10.96.0.0/16",
			"--endpoint-reconciler-type=none",
			"--enable-priority-and-fairness=false",
			"--allow-privileged=true",
			"--profiling=false",
		}
	case "kube-controller-manager":
		return []string{
			"--kubeconfig=" + kc, "--leader-elect=false", "--secure-port=0",
			"--use-service-account-credentials=false",
			"--service-account-private-key-file=" + p(saKey), "--root-ca-file=" + p(caCert),
			"--profiling=false",
		}
	case "kube-scheduler":
		return []string{"--kubeconfig=" + kc, "--leader-elect=false", "--secure-port=0", "--profiling=false"}
	case "kwok":
		return []string{
			"--kubeconfig=" + kc, "--config=" + filepath.Join(c.Dir, "kwok.yaml"),
			"--manage-all-nodes=true", "--node-ip=127.0.0.1",
			// The node's kubelet port is our kubelet's, so port-forwards
			// reach it; KWOK serves the rest on its own port.
			"--node-port=" + strconv.Itoa(c.ports.kubelet),
			fmt.Sprintf("--server-address=127.0.0.1:%d", c.ports.kwok),
			"--tls-cert-file=" + p(kubeletCert), "--tls-private-key-file=" + p(kubeletKey),
			"--node-lease-duration-seconds=40",
			"--cidr=10.244.0.0/16",
		}
	case "kubelet":
		return []string{
			"--kubeconfig=" + kc, "--node-name=" + c.NodeName,
			fmt.Sprintf("--address=127.0.0.1:%d", c.ports.kubelet),
			"--tls-cert-file=" + p(kubeletCert), "--tls-private-key-file=" + p(kubeletKey),
			"--client-ca-file=" + p(caCert),
			fmt.Sprintf("--control-address=127.0.0.1:%d", c.ports.control),
			fmt.Sprintf("--kwok-address=127.0.0.1:%d", c.ports.kwok),
		}
	}
	panic("unknown component " + name)
}

func (c *Cluster) startProc(name string, args []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[name]; p != nil && !p.exited() {
		return fmt.Errorf("%s is already running", name)
	}
	if c.spawn == nil {
		return errors.New("cluster is stopped")
	}
	p := &proc{name: name, args: args}
	if err := p.start(c.spawn, c.bin, c.Dir); err != nil {
		return err
	}
	c.procs[name] = p
	return nil
}

func (c *Cluster) proc(name string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	if err := c.startProc("etcd", c.args("etcd")); err != nil {
		return err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/health", c.ports.etcd)
	return c.proc("etcd").waitFor(ctx, "/health", func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, url)
	})
}

// StopAPIServer kills the API server (SIGKILL, as in a crash: a graceful
// stop waits about 10 s for open port-forward connections). Everything else
// keeps running and retries, as in a real control-plane outage; every
// connection through the API server breaks at once.
func (c *Cluster) StopAPIServer(ctx context.Context) error {
	p := c.proc("kube-apiserver")
	if p == nil {
		return errors.New("kube-apiserver was never started")
	}
	p.stop(0)
	return ctx.Err()
}

// StartAPIServer starts the API server on its usual port and waits for /readyz.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if err := c.startProc("kube-apiserver", c.args("kube-apiserver")); err != nil {
		return err
	}
	hc, err := c.apiHTTPClient()
	if err != nil {
		return err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", c.ports.apiserver)
	return c.proc("kube-apiserver").waitFor(ctx, "/readyz", func(ctx context.Context) error {
		return httpOK(ctx, hc, url)
	})
}

// StopKWOK and StartKWOK stop and restart the node agent (node heartbeats and
// pod status), for node-failure tests. StartKWOK restores the node's
// addresses if KWOK lost them, since port-forward needs them.
func (c *Cluster) StopKWOK(ctx context.Context) error {
	if p := c.proc("kwok"); p != nil {
		p.stop(10 * time.Second)
	}
	return ctx.Err()
}

func (c *Cluster) StartKWOK(ctx context.Context) error {
	// A new KWOK waits for the old one's node lease to expire (40 s) before
	// it manages the node; a restarted kubelet would renew its own lease.
	err := c.Client.CoordinationV1().Leases("kube-node-lease").Delete(ctx, c.NodeName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node lease: %w", err)
	}
	if err := c.startProc("kwok", c.args("kwok")); err != nil {
		return err
	}
	return c.waitNodeReady(ctx)
}

func (c *Cluster) apiHTTPClient() (*http.Client, error) {
	tc, err := rest.TransportFor(c.RESTConfig)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tc, Timeout: 5 * time.Second}, nil
}

func httpOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func (c *Cluster) writeKubeconfig() error {
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	ca, err := os.ReadFile(c.pki.path(caCert))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Context] = &clientcmdapi.Cluster{
		Server:                   fmt.Sprintf("https://127.0.0.1:%d", c.ports.apiserver),
		CertificateAuthorityData: ca,
	}
	cfg.AuthInfos[c.Context] = &clientcmdapi.AuthInfo{Token: c.pki.token}
	cfg.Contexts[c.Context] = &clientcmdapi.Context{Cluster: c.Context, AuthInfo: c.Context, Namespace: "default"}
	cfg.CurrentContext = c.Context
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

func (c *Cluster) createNode(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: c.NodeName,
		Labels: map[string]string{
			"kubernetes.io/hostname": c.NodeName,
			"kubernetes.io/os":       "linux",
			"type":                   "kwok",
		},
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
	}}
	_, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", c.NodeName, err)
	}
	return nil
}

// waitUsable waits for the node to be Ready with a reachable kubelet, and
// for the controller-manager to have created the default service account,
// the last thing a pod needs before it can be admitted.
func (c *Cluster) waitUsable(ctx context.Context) error {
	if err := c.waitNodeReady(ctx); err != nil {
		return err
	}
	tc, err := c.kubeletHTTPClient()
	if err != nil {
		return err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", c.ports.kubelet)
	if err := c.proc("kubelet").waitFor(ctx, "/healthz", func(ctx context.Context) error { return httpOK(ctx, tc, url) }); err != nil {
		return err
	}
	return c.proc("kube-controller-manager").waitFor(ctx, "default service account", func(ctx context.Context) error {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// waitNodeReady waits for KWOK to mark the node Ready, and puts back the
// node's addresses and kubelet port if they went missing (seen after KWOK
// restarts; port-forward fails with "no preferred addresses found").
func (c *Cluster) waitNodeReady(ctx context.Context) error {
	return c.proc("kwok").waitFor(ctx, "node "+c.NodeName+" Ready", func(ctx context.Context) error {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return errors.New("node not Ready yet")
		}
		hasIP := false
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && a.Address != "" {
				hasIP = true
			}
		}
		if hasIP && n.Status.DaemonEndpoints.KubeletEndpoint.Port == int32(c.ports.kubelet) {
			return nil
		}
		n.Status.Addresses = []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: c.NodeName},
		}
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(c.ports.kubelet)
		if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("restore node addresses: %w", err)
		}
		return errors.New("node addresses restored; checking again")
	})
}

// kubeletHTTPClient talks to the kubelet endpoint as the API server does.
func (c *Cluster) kubeletHTTPClient() (*http.Client, error) {
	ca, err := os.ReadFile(c.pki.path(caCert))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(c.pki.path(kubeletClientCert), c.pki.path(kubeletClientKey))
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

// freePorts picks distinct free loopback ports. Another process could take
// one before its component binds it; Start then fails with that
// component's log, and a retry picks new ports.
func freePorts() (ports, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	next := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		ls = append(ls, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	var p ports
	for _, f := range []*int{&p.etcd, &p.etcdPeer, &p.apiserver, &p.kubelet, &p.kwok, &p.control} {
		n, err := next()
		if err != nil {
			return p, err
		}
		*f = n
	}
	return p, nil
}

// PIDs returns the process id of each running component.
func (c *Cluster) PIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for name, p := range c.procs {
		if !p.exited() {
			out[name] = p.cmd.Process.Pid
		}
	}
	return out
}
