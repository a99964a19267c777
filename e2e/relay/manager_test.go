//go:build e2e

package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/relay"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

// The engine runs relay forwards from kftray configs: the same Manager the
// daemon uses, on the dev cluster.
func newManager(t *testing.T, c *cluster.Cluster, backend string) *forwarder.Manager {
	m := forwarder.NewManager(forwarder.Options{
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
		Relay: relay.Options{Owner: relay.Owner{User: "e2e", Host: "devcluster", Session: "mgr"},
			Image: "ghcr.io/kftray-go/kftray-server:e2e", ReadyTimeout: wait,
			PodAnnotations: map[string]string{cluster.AnnotationBackendAddr: backend}},
	})
	t.Cleanup(m.StopAll)
	return m
}

func kubeconfig(c *cluster.Cluster) (string, string) { return c.Kubeconfig, c.Context }

func relayName(id int64) string { return manifest.Name(id, "mgr") }

func TestManagerUDPServiceForward(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	dnsPod, dnsAddr := c.UDPEcho(t, ns)
	m := newManager(t, c, startServer(t, "udp", dnsAddr))
	kc, kctx := kubeconfig(c)
	cfg := fwdconfig.Config{ID: 21, Alias: "dns", Kubeconfig: kc, Context: kctx, Namespace: ns,
		WorkloadType: "service", Service: "dns", Protocol: "udp", RemotePort: 53}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := m.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	st := m.Forward(21).State()
	t.Logf("state: %+v", st)
	p := dialPeer(t, st.Address)
	want := dnsPod + ": A api.dev.test"
	p.ask("A api.dev.test", func(s string) bool { return s == want })

	// The Deployment says where the relay sends datagrams: the Service's name.
	dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, relayName(21), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["REMOTE_ADDRESS"] != "dns."+ns+".svc.cluster.local" || env["REMOTE_PORT"] != "53" || env["PROXY_TYPE"] != "udp" {
		t.Fatalf("relay env %v", env)
	}

	// Relay pod deleted: the engine follows the replacement.
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: manifest.LabelInstance + "=" + relayName(21)})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("relay pods: %v %v", err, pods)
	}
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, pods.Items[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want = dnsPod + ": after relay pod replaced"
	p.ask("after relay pod replaced", func(s string) bool { return s == want })

	// Stop deletes the relay.
	m.Stop(21)
	if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, relayName(21), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("relay Deployment after stop: %v", err)
	}
}

func TestManagerTCPProxyForward(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	db, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	go func() {
		for {
			conn, err := db.Accept()
			if err != nil {
				return
			}
			go func() { defer conn.Close(); io.Copy(conn, conn) }()
		}
	}()
	m := newManager(t, c, startServer(t, "tcp", db.Addr().String()))
	kc, kctx := kubeconfig(c)
	cfg := fwdconfig.Config{ID: 22, Alias: "db", Kubeconfig: kc, Context: kctx, Namespace: ns,
		WorkloadType: "proxy", Protocol: "tcp", RemoteAddress: "db.vpc.internal", RemotePort: 5432}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := m.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	addr := m.Forward(22).Addr().String()
	for i := range 3 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(wait))
		msg := strings.Repeat(fmt.Sprintf("select %d;", i), 10000)
		go conn.Write([]byte(msg))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, got); err != nil || string(got) != msg {
			t.Fatalf("connection %d: %v", i, err)
		}
		conn.Close()
	}
	m.Stop(22)
	if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, relayName(22), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("relay Deployment after stop: %v", err)
	}
}

// A relay that cannot become ready fails the start with the pod's reason
// and leaves nothing behind.
func TestManagerRelayNeverReady(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	m := forwarder.NewManager(forwarder.Options{
		Relay: relay.Options{Owner: relay.Owner{User: "e2e", Host: "devcluster", Session: "mgr"},
			Image: "ghcr.io/kftray-go/kftray-server:e2e", ReadyTimeout: 3 * time.Second},
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
	})
	defer m.StopAll()
	kc, kctx := kubeconfig(c)
	// A quota of zero pods: the ReplicaSet can never create the relay pod.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Client.CoreV1().ResourceQuotas(ns).Create(ctx, noPodsQuota(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := fwdconfig.Config{ID: 23, Kubeconfig: kc, Context: kctx, Namespace: ns,
		WorkloadType: "proxy", Protocol: "udp", RemoteAddress: "10.0.0.53", RemotePort: 53}
	err := m.Start(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "not ready after 3s") || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("got %v, want a readiness timeout naming the quota", err)
	}
	t.Logf("error: %v", err)
	if _, gerr := c.Client.AppsV1().Deployments(ns).Get(ctx, relayName(23), metav1.GetOptions{}); !apierrors.IsNotFound(gerr) {
		t.Fatalf("failed start left its relay Deployment: %v", gerr)
	}
}

func noPodsQuota() *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-pods"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}
}

// Somebody deletes the relay Deployment under a running forward: the
// forward deploys it again and carries on.
func TestManagerRedeploysVanishedRelay(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	dnsPod, dnsAddr := c.UDPEcho(t, ns)
	m := forwarder.NewManager(forwarder.Options{
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
		Relay: relay.Options{Owner: relay.Owner{User: "e2e", Host: "devcluster", Session: "mgr"},
			Image: "ghcr.io/kftray-go/kftray-server:e2e", ReadyTimeout: wait, CheckEvery: 200 * time.Millisecond,
			PodAnnotations: map[string]string{cluster.AnnotationBackendAddr: startServer(t, "udp", dnsAddr)}},
	})
	defer m.StopAll()
	kc, kctx := kubeconfig(c)
	cfg := fwdconfig.Config{ID: 24, Kubeconfig: kc, Context: kctx, Namespace: ns,
		WorkloadType: "service", Service: "dns", Protocol: "udp", RemotePort: 53}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := m.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	p := dialPeer(t, m.Forward(24).State().Address)
	p.ask("before", func(s string) bool { return s == dnsPod+": before" })

	bg := metav1.DeletePropagationForeground
	if err := c.Client.AppsV1().Deployments(ns).Delete(ctx, relayName(24), metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	// Bounded wait: the Deployment comes back (a new object, new UID).
	old := ""
	for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, relayName(24), metav1.GetOptions{})
		if err == nil && d.DeletionTimestamp == nil && old != "" && string(d.UID) != old {
			break
		}
		if err == nil && old == "" {
			old = string(d.UID)
		}
		if apierrors.IsNotFound(err) && old == "" {
			old = "gone"
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay Deployment was not deployed again: %v", err)
		}
	}
	p.ask("after redeploy", func(s string) bool { return s == dnsPod+": after redeploy" })
}

// UDP to a pod workload: the relay targets a ready pod's IP, and follows
// the replacement when that pod goes. (Pod IPs are KWOK's and carry no
// traffic here, so this checks the relay's configuration in the real
// Deployment; the data path is the one the other tests cover.)
func TestManagerUDPPodWorkloadFollowsPodIP(t *testing.T) {
	c := cluster.Get(t)
	ns := c.Namespace(t)
	dnsPod, _ := c.UDPEcho(t, ns)
	// The relay process stands in for the relay pod; KWOK's pod IPs carry no
	// traffic, so it answers from a local echo instead of the pod's IP.
	echo, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, src, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			echo.WriteToUDPAddrPort(append([]byte("echo: "), buf[:n]...), src)
		}
	}()
	m := forwarder.NewManager(forwarder.Options{
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
		Relay: relay.Options{Owner: relay.Owner{User: "e2e", Host: "devcluster", Session: "mgr"},
			Image: "ghcr.io/kftray-go/kftray-server:e2e", ReadyTimeout: wait, CheckEvery: 200 * time.Millisecond,
			PodAnnotations: map[string]string{cluster.AnnotationBackendAddr: startServer(t, "udp", echo.LocalAddr().String())}},
	})
	defer m.StopAll()
	kc, kctx := kubeconfig(c)
	cfg := fwdconfig.Config{ID: 25, Kubeconfig: kc, Context: kctx, Namespace: ns,
		WorkloadType: "pod", Target: "app=dns", Protocol: "udp", RemotePort: 5353}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := m.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	remote := func() string {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, relayName(25), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "REMOTE_ADDRESS" {
				return e.Value
			}
		}
		return ""
	}
	podIP := func(name string) string {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p.Status.PodIP
	}
	if got, want := remote(), podIP(dnsPod); got != want || got == "" {
		t.Fatalf("relay REMOTE_ADDRESS %q, want pod %s's IP %q", got, dnsPod, want)
	}
	var pods []string
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, dnsPod, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pods, err = c.ReadyPods(ctx, ns, "dns", 1, dnsPod)
	if err != nil {
		t.Fatal(err)
	}
	want := podIP(pods[0])
	for deadline := time.Now().Add(wait); remote() != want; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("relay REMOTE_ADDRESS %q, want the replacement %s's IP %q", remote(), pods[0], want)
		}
	}
	t.Logf("relay follows %s (%s)", pods[0], want)
	// The forward still carries datagrams afterwards.
	p := dialPeer(t, m.Forward(25).State().Address)
	p.ask("after pod change", func(s string) bool { return s == "echo: after pod change" })
}
