package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// A backend is what one container port of a simulated pod runs: a small
// server on a loopback port of its own, answering as that pod. The protocol
// is documented in e2e/cluster's package doc; keep the two in step.
//
//   - TCP ports named "echo", "tcp-echo", "echo-*" or "*-echo": raw TCP echo.
//   - other TCP ports: HTTP. GET / (any path not below) answers the pod name
//     and a newline; GET /bytes?n=N streams N bytes; POST /echo echoes the
//     request body; GET /healthz answers ok. Every response carries the
//     X-Pod-Name and X-Pod-Namespace headers.
//   - UDP ports: each datagram is answered with "<pod name>: " + datagram.
type backend interface {
	Name() string
	Port() int32
	Protocol() corev1.Protocol
	Kind() string
	Addr() string
	Close() error
}

func startBackends(pod *corev1.Pod) ([]backend, error) {
	var bs []backend
	var errs []error
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			b, err := startBackend(pod, cp)
			if err != nil {
				errs = append(errs, fmt.Errorf("container %s port %d: %w", c.Name, cp.ContainerPort, err))
				continue
			}
			bs = append(bs, b)
		}
	}
	return bs, errors.Join(errs...)
}

func startBackend(pod *corev1.Pod, cp corev1.ContainerPort) (backend, error) {
	meta := portMeta{name: cp.Name, port: cp.ContainerPort, proto: cp.Protocol}
	if meta.proto == "" {
		meta.proto = corev1.ProtocolTCP
	}
	switch {
	case meta.proto == corev1.ProtocolUDP:
		return startUDPEcho(pod.Name, meta)
	case meta.proto != corev1.ProtocolTCP:
		return nil, fmt.Errorf("protocol %s not simulated", meta.proto)
	case isEchoName(cp.Name):
		return startTCPEcho(meta)
	default:
		return startHTTP(pod.Namespace, pod.Name, meta)
	}
}

func isEchoName(n string) bool {
	return n == "echo" || n == "tcp-echo" || strings.HasPrefix(n, "echo-") || strings.HasSuffix(n, "-echo")
}

type portMeta struct {
	name  string
	port  int32
	proto corev1.Protocol
}

func (m portMeta) Name() string              { return m.name }
func (m portMeta) Port() int32               { return m.port }
func (m portMeta) Protocol() corev1.Protocol { return m.proto }

// connSet tracks accepted connections so stopping a backend drops them, the
// way a killed container's sockets go away.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	cs := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range cs {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // reset, not a graceful close
		}
		c.Close()
	}
}

type httpBackend struct {
	portMeta
	ln  net.Listener
	srv *http.Server
	cs  connSet
}

func startHTTP(namespace, podName string, meta portMeta) (*httpBackend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &httpBackend{portMeta: meta, ln: ln}
	mux := http.NewServeMux()
	hdr := func(w http.ResponseWriter) {
		w.Header().Set("X-Pod-Name", podName)
		w.Header().Set("X-Pod-Namespace", namespace)
	}
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		hdr(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, podName+"\n")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		hdr(w)
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /bytes", func(w http.ResponseWriter, r *http.Request) {
		hdr(w)
		n, err := strconv.ParseInt(r.FormValue("n"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "n: want a byte count", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 32<<10)
		for i := range buf {
			buf[i] = byte('a' + i%26)
		}
		for n > 0 {
			k := min(n, int64(len(buf)))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		hdr(w)
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		}
		_, _ = io.Copy(w, r.Body)
	})
	b.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: time.Minute,
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				if !b.cs.add(c) {
					c.Close()
				}
			case http.StateClosed, http.StateHijacked:
				b.cs.remove(c)
			}
		},
	}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

func (b *httpBackend) Kind() string { return "http" }
func (b *httpBackend) Addr() string { return b.ln.Addr().String() }
func (b *httpBackend) Close() error {
	b.cs.closeAll()
	return b.srv.Close()
}

type tcpEcho struct {
	portMeta
	ln net.Listener
	cs connSet
}

func startTCPEcho(meta portMeta) (*tcpEcho, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &tcpEcho{portMeta: meta, ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !b.cs.add(c) {
				c.Close()
				return
			}
			go func() {
				defer b.cs.remove(c)
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return b, nil
}

func (b *tcpEcho) Kind() string { return "tcp-echo" }
func (b *tcpEcho) Addr() string { return b.ln.Addr().String() }
func (b *tcpEcho) Close() error {
	err := b.ln.Close()
	b.cs.closeAll()
	return err
}

type udpEcho struct {
	portMeta
	pc net.PacketConn
}

func startUDPEcho(podName string, meta portMeta) (*udpEcho, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 64<<10)
		prefix := []byte(podName + ": ")
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append(append([]byte{}, prefix...), buf[:n]...), from)
		}
	}()
	return &udpEcho{portMeta: meta, pc: pc}, nil
}

func (b *udpEcho) Kind() string { return "udp-echo" }
func (b *udpEcho) Addr() string { return b.pc.LocalAddr().String() }
func (b *udpEcho) Close() error { return b.pc.Close() }
