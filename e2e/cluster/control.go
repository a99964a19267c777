package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PodBackends is what the kubelet runs for one pod.
type PodBackends struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	UID         string    `json:"uid"`
	Backends    []Backend `json:"backends"`
	Streams     int       `json:"streams"`     // open port-forward streams
	Connections int       `json:"connections"` // upgraded API-server connections
}

// Backend is one container port's local server.
type Backend struct {
	Name     string `json:"name,omitempty"` // container port name
	Port     int32  `json:"port"`           // container port
	Protocol string `json:"protocol"`       // TCP or UDP
	Kind     string `json:"kind"`           // http, tcp-echo or udp-echo
	Address  string `json:"address"`        // 127.0.0.1:N where it listens
}

// Pods lists the pods the kubelet is running, with their backends.
func (c *Cluster) Pods(ctx context.Context) ([]PodBackends, error) {
	var out []PodBackends
	if err := c.control(ctx, http.MethodGet, "/pods", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Pod returns one running pod's backends.
func (c *Cluster) Pod(ctx context.Context, namespace, name string) (PodBackends, error) {
	pods, err := c.Pods(ctx)
	if err != nil {
		return PodBackends{}, err
	}
	for _, p := range pods {
		if p.Namespace == namespace && p.Name == name {
			return p, nil
		}
	}
	return PodBackends{}, fmt.Errorf("pod %s/%s is not running on the dev cluster's node", namespace, name)
}

// CutStreams closes every open port-forward stream to the pod, as when its
// process resets its connections; clients get an error on each stream. The
// upgraded connections stay up. It returns how many streams were cut.
func (c *Cluster) CutStreams(ctx context.Context, namespace, pod string) (int, error) {
	var out struct{ Streams int }
	err := c.control(ctx, http.MethodPost, "/cut", podQuery(namespace, pod), &out)
	return out.Streams, err
}

// DropConnections closes the upgraded API-server connections serving the
// pod, as when the network between control plane and node fails.
func (c *Cluster) DropConnections(ctx context.Context, namespace, pod string) (int, error) {
	var out struct{ Connections int }
	err := c.control(ctx, http.MethodPost, "/drop", podQuery(namespace, pod), &out)
	return out.Connections, err
}

// StallStreams holds every byte to or from the pod's streams for d (new
// streams too); the streams stay open and resume afterwards.
func (c *Cluster) StallStreams(ctx context.Context, namespace, pod string, d time.Duration) error {
	q := podQuery(namespace, pod)
	q.Set("duration", d.String())
	return c.control(ctx, http.MethodPost, "/stall", q, nil)
}

// RouteImage sends every port-forward to pods running image (an exact
// reference, or a repository without tag or digest) to addr, a process the
// test runs: how a test serves pods that code under test creates itself,
// such as kftray's relay. An empty addr removes the route; a pod's
// AnnotationBackendAddr takes precedence.
func (c *Cluster) RouteImage(ctx context.Context, image, addr string) error {
	return c.control(ctx, http.MethodPost, "/image-route", url.Values{"image": {image}, "addr": {addr}}, nil)
}

func podQuery(namespace, pod string) url.Values {
	return url.Values{"namespace": {namespace}, "name": {pod}}
}

func (c *Cluster) control(ctx context.Context, method, path string, q url.Values, out any) error {
	u := c.ControlURL + path
	var body io.Reader
	if q != nil {
		body = strings.NewReader(q.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("kubelet control %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("kubelet control %s: %s: %s", path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
