package kubelettest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// TestClientGoPortForward checks the server with client-go's own
// PortForwarder over each transport.
func TestClientGoPortForward(t *testing.T) {
	srv, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	be, err := StartBackend("web-1")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	srv.AddPod("default", "web-1", map[int32]string{8080: be.Addr()})

	cfg := srv.RESTConfig()
	u, _ := url.Parse(cfg.Host + "/api/v1/namespaces/default/pods/web-1/portforward")
	rt, up, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spdyDialer := spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		d    httpstream.Dialer
	}{
		{"spdy", spdyDialer},
		{"websocket", wsDialer},
		{"fallback", portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool { return httpstream.IsUpgradeFailure(err) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stop := make(chan struct{})
			ready := make(chan struct{})
			pf, err := portforward.New(tc.d, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- pf.ForwardPorts() }()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("forward: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("port forward not ready after 10s")
			}
			ports, _ := pf.GetPorts()
			c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(int(ports[0].Local))))
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("hello"))
			c.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(bufio.NewReader(c))
			c.Close()
			if err != nil || string(got) != "web-1\nhello" {
				t.Fatalf("got %q, %v", got, err)
			}
			close(stop)
			<-done
		})
	}
}

func TestDeniedAndMissing(t *testing.T) {
	srv, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Deny("create")
	cfg := srv.RESTConfig()
	rt, up, _ := spdy.RoundTripperFor(cfg)
	for _, tc := range []struct{ pod, want string }{
		{"nope", `cannot create resource "pods/portforward"`},
	} {
		u, _ := url.Parse(cfg.Host + "/api/v1/namespaces/default/pods/" + tc.pod + "/portforward")
		_, _, err := spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, u).Dial(portforward.PortForwardProtocolV1Name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("dial %s: %v, want %q", tc.pod, err, tc.want)
		}
	}
	srv.Allow("create")
	u, _ := url.Parse(cfg.Host + "/api/v1/namespaces/default/pods/nope/portforward")
	_, _, err = spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, u).Dial(portforward.PortForwardProtocolV1Name)
	if err == nil || !strings.Contains(err.Error(), `pods "nope" not found`) {
		t.Fatalf("dial missing pod: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
