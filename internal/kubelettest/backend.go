package kubelettest

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// Backend is a pod's TCP server: it writes the pod's name and a newline,
// then echoes everything it reads until the client half-closes, then closes.
// The name tells a test which pod served it; the echo checks the bytes.
type Backend struct {
	Name string
	ln   net.Listener
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// StartBackend listens on a loopback port for pod name.
func StartBackend(name string) (*Backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Backend{Name: name, ln: ln, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

// Addr is the backend's host:port.
func (b *Backend) Addr() string { return b.ln.Addr().String() }

// Close stops the backend and closes its connections.
func (b *Backend) Close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *Backend) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = struct{}{}
		b.mu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer func() {
				b.mu.Lock()
				delete(b.conns, c)
				b.mu.Unlock()
				c.Close()
			}()
			w := bufio.NewWriterSize(c, 64<<10)
			if _, err := w.WriteString(b.Name + "\n"); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
			if _, err := io.Copy(c, c); err != nil {
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
		}()
	}
}
