package mcpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kftray-go/kftray/forwarder"
	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/forwarder/kube"
	"github.com/kftray-go/kftray/internal/kubelettest"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/ui/mcpserver"
)

// A real daemon in this process, its clusters an in-process world: the
// kubelet and API-server port-forward code (kubelettest) for the data
// path, client-go's fake clientset for the objects. Service "web" in
// namespace "default" maps port 80 (named http) to pod web-1's 8080,
// whose backend answers with its name and echoes.
type world struct {
	dir    string
	client *localapi.Client
	status localapi.Status
}

func startWorld(t testing.TB) *world {
	t.Helper()
	srv, err := kubelettest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	be, err := kubelettest.StartBackend("web-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Close)
	srv.AddPod("default", "web-1", map[int32]string{8080: be.Addr()})
	name, port, isReady := "http", int32(8080), true
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.0.0.10", Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt(8080), Protocol: corev1.ProtocolTCP}}},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		},
		&discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: "web-xyz", Namespace: "default",
				Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"},
				Conditions: discoveryv1.EndpointConditions{Ready: &isReady},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1"}}},
		},
	)
	engine := forwarder.Options{LoadCluster: func(src kube.Source) (*kube.Cluster, error) {
		cl, err := kube.New(src, "test", srv.RESTConfig())
		if err != nil {
			return nil, err
		}
		cl.Client = cs
		return cl, nil
	}}

	dir, err := os.MkdirTemp("", "kfm") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan localapi.Status, 1)
	go func() {
		done <- fwdaemon.Run(ctx, fwdaemon.Options{Dir: dir, Log: zerolog.Nop(), Engine: engine, CounterPeriod: 20 * time.Millisecond,
			MCPHandler: func(c *localapi.Client) http.Handler {
				return mcpserver.HTTPHandler(mcpserver.Options{Connect: fixed(c)})
			},
			Ready: func(s localapi.Status) { ready <- s }})
	}()
	w := &world{dir: dir}
	select {
	case w.status = <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not become ready within 15s")
	}
	w.client = localapi.NewUnixClient(w.status.Socket)
	t.Cleanup(func() {
		w.client.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return w
}

func fixed(c *localapi.Client) func(context.Context) (*localapi.Client, error) {
	return func(context.Context) (*localapi.Client, error) { return c, nil }
}

// session connects the SDK's client to a server over this world's daemon
// (in memory, as stdio would carry it).
func (w *world) session(t testing.TB) *mcp.ClientSession {
	return w.sessionWith(t, mcpserver.Options{})
}

func (w *world) sessionWith(t testing.TB, opts mcpserver.Options) *mcp.ClientSession {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	opts.Connect, opts.Version = fixed(w.client), "test"
	srv := mcpserver.New(opts)
	ctx := context.Background()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Wait() })
	return cs
}

// writeKubeconfig writes a kubeconfig with contexts dev (current) and
// prod.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	data := `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: me
  user: {token: "x"}
contexts:
- name: dev
  context: {cluster: c, user: me, namespace: team}
- name: prod
  context: {cluster: c, user: me}
`
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// call calls a tool and decodes its structured answer into out; it fails
// the test on an error result.
func call(t *testing.T, cs *mcp.ClientSession, name string, args any, out any) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s(%v): error result: %s", name, args, text(res))
	}
	if out != nil {
		// A fresh value: decoding into a used one would keep old fields.
		v := reflect.ValueOf(out).Elem()
		v.Set(reflect.Zero(v.Type()))
		b, err := json.Marshal(res.StructuredContent)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: decoding %s: %v", name, b, err)
		}
	}
}

// callErr calls a tool that must fail and returns its error text.
func callErr(t *testing.T, cs *mcp.ClientSession, name string, args any) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !res.IsError {
		t.Fatalf("%s(%v) succeeded (%s); want an error", name, args, text(res))
	}
	return text(res)
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		} else {
			fmt.Fprintf(&b, "%T", c)
		}
	}
	return b.String()
}
