package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func testPod(name string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: ports}}},
	}
}

// forward runs PortForward for the pod's port over one end of a net.Pipe
// and returns the other end, and PortForward's result.
func forward(n *nodePods, uid string, port int32) (net.Conn, <-chan error) {
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() {
		err := n.PortForward(context.Background(), "", uid, port, server)
		server.Close()
		done <- err
	}()
	return client, done
}

func TestPortForwardHTTPBackendAndDeletion(t *testing.T) {
	started := make(chan []backend, 1)
	n := newNodePods(log.New(io.Discard, "", 0), func(_ *corev1.Pod, bs []backend) { started <- bs })
	defer n.stopAll()
	pod := testPod("web-1", corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	n.sync(pod)
	if bs := <-started; len(bs) != 1 || bs[0].Kind() != "http" {
		t.Fatalf("backends %v", bs)
	}

	c, done := forward(n, "uid-web-1", 8080)
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "web-1\n" || resp.Header.Get("X-Pod-Name") != "web-1" {
		t.Fatalf("GET / = %q (%v)", body, resp.Header)
	}

	// Deleting the pod ends the open stream with an error naming it.
	deleted := pod.DeepCopy()
	deleted.DeletionTimestamp = &metav1.Time{}
	n.sync(deleted)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "ns/web-1") {
		t.Fatalf("PortForward after deletion: %v", err)
	}
	if _, done := forward(n, "uid-web-1", 8080); <-done == nil {
		t.Fatal("port-forward to a deleted pod succeeded")
	}
}

func TestPortForwardEchoAndRefused(t *testing.T) {
	n := newNodePods(log.New(io.Discard, "", 0), func(*corev1.Pod, []backend) {})
	defer n.stopAll()
	n.sync(testPod("echo-1", corev1.ContainerPort{Name: "tcp-echo", ContainerPort: 9000}))

	c, _ := forward(n, "uid-echo-1", 9000)
	defer c.Close()
	fmt.Fprint(c, "ping\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo: %q %v", line, err)
	}

	c2, done := forward(n, "uid-echo-1", 1)
	defer c2.Close()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("undeclared port: %v", err)
	}
}

func TestEchoNames(t *testing.T) {
	for name, want := range map[string]bool{"echo": true, "tcp-echo": true, "echo-2": true, "my-echo": true, "http": false, "echoes": false} {
		if got := isEchoName(name); got != want {
			t.Errorf("isEchoName(%q) = %v", name, got)
		}
	}
}

func TestImageRepository(t *testing.T) {
	for in, want := range map[string]string{
		"kftray-server":                        "kftray-server",
		"kftray-server:dev":                    "kftray-server",
		"ghcr.io/hcavarsan/kftray-server:v0.1": "ghcr.io/hcavarsan/kftray-server",
		"localhost:5000/relay":                 "localhost:5000/relay",
		"localhost:5000/relay:1":               "localhost:5000/relay",
		"relay@sha256:abcd":                    "relay",
	} {
		if got := imageRepository(in); got != want {
			t.Errorf("imageRepository(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestImageRoute(t *testing.T) {
	n := newNodePods(log.New(io.Discard, "", 0), func(*corev1.Pod, []backend) {})
	defer n.stopAll()
	pod := testPod("relay-1")
	pod.Spec.Containers[0].Image = "ghcr.io/x/kftray-server:v1"
	n.sync(pod)
	p := n.lookup("ns", "relay-1", "")
	if _, err := p.target(5000, n.imageRoute); err == nil {
		t.Fatal("undeclared port without a route was not refused")
	}
	n.setImageRoute("ghcr.io/x/kftray-server", "127.0.0.1:4000")
	if got, err := p.target(5000, n.imageRoute); err != nil || got != "127.0.0.1:4000" {
		t.Fatalf("routed target = %q, %v", got, err)
	}
	n.setImageRoute("ghcr.io/x/kftray-server", "")
	if _, err := p.target(5000, n.imageRoute); err == nil {
		t.Fatal("route removal did not take")
	}
}
