package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/kftray-go/kftray/forwarder/tunnel"
)

// streamDiag splits a new forwarded connection's latency into its parts
// over one SPDY connection to the web pod, with client-go as kubectl uses
// it: creating the error+data stream pair (each creation waits for the
// kubelet's reply), then one GET on the fresh pair. A forwarder that
// keeps a pair ready ("warm") saves the first part on every new connection.
func (b *bench) streamDiag(n int) (create, request []time.Duration, err error) {
	u, err := tunnel.PortForwardURL(b.c.RESTConfig, b.ns, b.webPod)
	if err != nil {
		return nil, nil, err
	}
	rt, up, err := spdy.RoundTripperFor(b.c.RESTConfig)
	if err != nil {
		return nil, nil, err
	}
	conn, _, err := spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, u).Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", u, err)
	}
	defer conn.Close()
	for i := range n {
		h := http.Header{}
		h.Set(corev1.StreamType, corev1.StreamTypeError)
		h.Set(corev1.PortHeader, "8080")
		h.Set(corev1.PortForwardRequestIDHeader, strconv.Itoa(i))
		t0 := time.Now()
		es, err := conn.CreateStream(h)
		if err != nil {
			return create, request, fmt.Errorf("create error stream: %w", err)
		}
		es.Close()
		h.Set(corev1.StreamType, corev1.StreamTypeData)
		ds, err := conn.CreateStream(h)
		if err != nil {
			return create, request, fmt.Errorf("create data stream: %w", err)
		}
		t1 := time.Now()
		if _, err := ds.Write([]byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")); err != nil {
			return create, request, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(ds), nil)
		if err != nil {
			return create, request, fmt.Errorf("response on a fresh stream: %w", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t2 := time.Now()
		create = append(create, t1.Sub(t0))
		request = append(request, t2.Sub(t1))
		ds.Reset()
		es.Reset()
		conn.RemoveStreams(es, ds)
	}
	return create, request, nil
}
