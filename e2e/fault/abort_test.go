//go:build e2e && linux

package fault_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
)

// TestClientAbortMidDownload: clients that reset their connection in the
// middle of a download (upstream kubectl's e2e case; kubectl port-forward
// used to exit on it) disturb neither the other downloads on the same
// forward nor the forward itself.
func TestClientAbortMidDownload(t *testing.T) {
	c := cluster.Get(t)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			ns := c.Namespace(t)
			pods := deploy(t, c, ns, 1)
			m := startForward(t, forwarder.Options{Transport: tr}, webConfig(c, ns, 1, 80))
			f := m.Forward(1)
			addr := f.State().Address

			const good, size = 4, 32 << 20
			errs := make(chan error, good)
			var wg sync.WaitGroup
			for range good {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- download(addr, size, -1)
				}()
			}
			// Meanwhile, 20 clients each read 1 MiB of a large download and
			// reset the connection.
			for i := range 20 {
				if err := download(addr, 64<<20, 1<<20); err != nil {
					t.Fatalf("aborting client %d: %v", i, err)
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("a full download was disturbed: %v", err)
				}
			}
			if name, err := whoami(context.Background(), nil, addr); err != nil || name != pods[0] {
				t.Fatalf("after the aborts: %q %v", name, err)
			}
			st := f.State()
			if st.Phase != forwarder.Running || st.Reconnects != 0 {
				t.Errorf("forward disturbed by aborting clients: %+v", st)
			}
			t.Logf("%s: %d full %d MiB downloads intact alongside 20 aborted ones; state %s, reconnects %d, total conns %d",
				tr, good, size>>20, st.Phase, st.Reconnects, st.TotalConns)
		})
	}
}

// download GETs /bytes?n=size; with abortAfter >= 0 it resets the
// connection after that many body bytes, else it checks every byte arrived.
func download(addr string, size, abortAfter int64) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	fmt.Fprintf(conn, "GET /bytes?n=%d HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n", size)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if abortAfter >= 0 {
		if _, err := io.CopyN(io.Discard, resp.Body, abortAfter); err != nil {
			return err
		}
		_ = conn.(*net.TCPConn).SetLinger(0) // reset, as a killed client does
		return nil
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return fmt.Errorf("after %d of %d bytes: %w", n, size, err)
	}
	if n != size {
		return fmt.Errorf("got %d of %d bytes", n, size)
	}
	return nil
}
