package forwarder

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"

	"github.com/kftray-go/kftray/forwarder/kube"
)

// hangingDeletes is a clientset whose Deployment deletes hang until their
// context ends, as against an API server that stopped answering.
type hangingDeletes struct{ kubernetes.Interface }

func (h hangingDeletes) AppsV1() appsv1client.AppsV1Interface {
	return hangingApps{h.Interface.AppsV1()}
}

type hangingApps struct{ appsv1client.AppsV1Interface }

func (a hangingApps) Deployments(ns string) appsv1client.DeploymentInterface {
	return hangingDeployments{a.AppsV1Interface.Deployments(ns)}
}

type hangingDeployments struct {
	appsv1client.DeploymentInterface
}

func (hangingDeployments) Delete(ctx context.Context, _ string, _ metav1.DeleteOptions) error {
	<-ctx.Done()
	return ctx.Err()
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Deleting the relay of a forward whose start failed is bounded, and its
// failure is logged (the relay is left for `kftray relay clean`), instead
// of hanging the start forever.
func TestRelayDeleteIsBoundedAndLogged(t *testing.T) {
	w := newWorld(t)
	cfg := webConfig(7)
	cfg.Protocol = "udp"
	opts := w.options()
	load := opts.LoadCluster
	opts.LoadCluster = func(src kube.Source) (*kube.Cluster, error) {
		cl, err := load(src)
		if err == nil {
			cl.Client = hangingDeletes{cl.Client}
		}
		return cl, err
	}
	var logs syncWriter
	opts.Logger = zerolog.New(&logs)
	opts.Relay.ReadyTimeout = 100 * time.Millisecond
	opts.Relay.DeleteTimeout = 200 * time.Millisecond
	opts.Relay.Image = "reg/kftray-server:v1"
	m := NewManager(opts)
	defer m.StopAll()
	done := make(chan error, 1)
	go func() { done <- m.Start(context.Background(), cfg) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not ready") {
			t.Fatalf("start: %v; want the relay not ready", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the failed start still waits for the relay's deletion after 15s")
	}
	if !strings.Contains(logs.String(), "could not delete the relay") || !strings.Contains(logs.String(), "kftray relay clean") {
		t.Fatalf("the failed deletion was not logged:\n%s", logs.String())
	}
}
