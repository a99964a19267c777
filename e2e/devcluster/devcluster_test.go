//go:build e2e

// Package devcluster_test checks the dev cluster itself: port-forward
// through the real API server reaches the pod the EndpointSlices name, over
// SPDY and WebSocket, with client-go and kubectl, and follows pod
// replacement the way a real kubelet does.
package devcluster_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/kftray-go/kftray/e2e/cluster"
)

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

// dialers are the two ways client-go reaches a pod's port-forward.
var dialers = []struct {
	name string
	dial func(c *cluster.Cluster, ns, pod string) (httpstream.Connection, error)
}{
	{"spdy", func(c *cluster.Cluster, ns, pod string) (httpstream.Connection, error) {
		rt, up, err := spdy.RoundTripperFor(c.RESTConfig)
		if err != nil {
			return nil, err
		}
		d := spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, pfURL(c, ns, pod))
		conn, _, err := d.Dial(portforward.PortForwardProtocolV1Name)
		return conn, err
	}},
	{"websocket", func(c *cluster.Cluster, ns, pod string) (httpstream.Connection, error) {
		d, err := portforward.NewSPDYOverWebsocketDialer(pfURL(c, ns, pod), c.RESTConfig)
		if err != nil {
			return nil, err
		}
		conn, _, err := d.Dial(portforward.PortForwardProtocolV1Name)
		return conn, err
	}},
}

func pfURL(c *cluster.Cluster, ns, pod string) *url.URL {
	return c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
}

// stream is one forwarded connection: a data stream and its error stream.
type stream struct {
	data, errs httpstream.Stream
	r          *bufio.Reader
	errc       chan string // what the kubelet wrote on the error stream
}

var requestID int

func openStream(t *testing.T, conn httpstream.Connection, port int) *stream {
	t.Helper()
	requestID++
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, fmt.Sprint(port))
	h.Set(corev1.PortForwardRequestIDHeader, fmt.Sprint(requestID))
	errs, err := conn.CreateStream(h)
	if err != nil {
		t.Fatalf("create error stream: %v", err)
	}
	errs.Close() // we send nothing on it
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(h)
	if err != nil {
		t.Fatalf("create data stream: %v", err)
	}
	s := &stream{data: data, errs: errs, r: bufio.NewReader(data), errc: make(chan string, 1)}
	go func() {
		b, _ := io.ReadAll(errs)
		s.errc <- string(b)
	}()
	return s
}

// get sends GET path on the stream (keep-alive) and returns the body.
func (s *stream) get(t *testing.T, path string) string {
	t.Helper()
	if _, err := fmt.Fprintf(s.data, "GET %s HTTP/1.1\r\nHost: devcluster\r\n\r\n", path); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(s.r, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// TestPortForwardFollowsPodReplacement is the dev cluster's acceptance test:
// a Deployment of 2 behind a Service, port-forward to the pod the
// EndpointSlices name, its backend answers with that pod's name; deleting
// the pod closes the open stream; the replacement answers with its own name.
func TestPortForwardFollowsPodReplacement(t *testing.T) {
	for _, d := range dialers {
		t.Run(d.name, func(t *testing.T) {
			c := cluster.Get(t)
			ns := c.Namespace(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := c.Deploy(ctx, ns, cluster.App{Name: "web", Replicas: 2}); err != nil {
				t.Fatal(err)
			}
			pods, err := c.ReadyPods(ctx, ns, "web", 2)
			if err != nil {
				t.Fatal(err)
			}

			// Each replica answers as itself: its own backend, not a shared one.
			for _, pod := range pods {
				conn, err := d.dial(c, ns, pod)
				if err != nil {
					t.Fatalf("dial %s: %v", pod, err)
				}
				if got := openStream(t, conn, 8080).get(t, "/"); got != pod {
					t.Errorf("pod %s answered %q", pod, got)
				}
				conn.Close()
			}

			victim := pods[0]
			conn, err := d.dial(c, ns, victim)
			if err != nil {
				t.Fatalf("dial %s: %v", victim, err)
			}
			defer conn.Close()
			s := openStream(t, conn, 8080)
			if got := s.get(t, "/"); got != victim {
				t.Fatalf("pod %s answered %q", victim, got)
			}

			if err := c.Client.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			// The open stream ends: reads fail and the kubelet reports why.
			readDone := make(chan error, 1)
			go func() {
				_, err := s.r.ReadByte()
				readDone <- err
			}()
			select {
			case err := <-readDone:
				if err == nil {
					t.Fatalf("stream to deleted pod %s still delivers data", victim)
				}
			case <-ctx.Done():
				t.Fatalf("stream to deleted pod %s still open", victim)
			}
			select {
			case msg := <-s.errc:
				if !strings.Contains(msg, victim) {
					t.Errorf("error stream says %q; want a message naming %s", msg, victim)
				}
			case <-ctx.Done():
				t.Fatal("no message on the error stream")
			}
			// New streams on the same connection fail, and so does a new
			// connection to the deleted pod.
			s2 := openStream(t, conn, 8080)
			fmt.Fprintf(s2.data, "GET / HTTP/1.1\r\nHost: devcluster\r\n\r\n")
			if resp, err := http.ReadResponse(s2.r, nil); err == nil {
				resp.Body.Close()
				t.Errorf("new stream to deleted pod %s answered %s", victim, resp.Status)
			}
			if c2, err := d.dial(c, ns, victim); err == nil {
				c2.Close()
				t.Errorf("dialing deleted pod %s succeeded", victim)
			}

			all, err := c.ReadyPods(ctx, ns, "web", 2, victim)
			if err != nil {
				t.Fatal(err)
			}
			var replacement string
			for _, p := range all {
				if p != pods[1] {
					replacement = p
				}
			}
			if replacement == "" || replacement == victim {
				t.Fatalf("no replacement pod in %v", all)
			}
			conn2, err := d.dial(c, ns, replacement)
			if err != nil {
				t.Fatalf("dial replacement %s: %v", replacement, err)
			}
			defer conn2.Close()
			if got := openStream(t, conn2, 8080).get(t, "/"); got != replacement {
				t.Errorf("replacement %s answered %q", replacement, got)
			}
		})
	}
}
