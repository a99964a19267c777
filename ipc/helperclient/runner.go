package helperclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin/runner"

	"github.com/kftray-go/kftray/ipc"
	"github.com/kftray-go/kftray/ipc/fdpass"
	"github.com/kftray-go/kftray/ipc/peercred"
)

// runner starts the helper plugin through the launcher instead of exec:
// the launcher (root) runs it with the pipe ends and fd channel we send.
type launcherRunner struct {
	socket    string
	serverUID uint32
	fdRemote  *net.UnixConn
	env       []string

	conn      *net.UnixConn
	stdout    *os.File
	stderr    *tailReader
	pid       int
	refused   error
	gone      chan struct{}
	closeOnce sync.Once
}

var _ runner.Runner = (*launcherRunner)(nil)

func (r *launcherRunner) Start(ctx context.Context) (err error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", r.socket)
	if err != nil {
		return fmt.Errorf("connect to kftray-helper at %s: %w; is the service running? (`%s` sets it up)", r.socket, err, InstallCommand)
	}
	conn := c.(*net.UnixConn)
	// A session that does not start leaves nothing open behind it.
	var opened []io.Closer
	defer func() {
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
		}
	}()
	opened = append(opened, conn)
	// Before sending anything: only root may serve this socket.
	cred, err := peercred.Get(conn)
	if err != nil {
		return err
	}
	if cred.UID != r.serverUID {
		r.refused = fmt.Errorf("%w: %s is served by uid %d, not root; refusing to use it", ErrRefused, r.socket, cred.UID)
		return r.refused
	}
	env, err := ipc.FilterPluginEnv(r.env)
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	opened = append(opened, outR, outW)
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	opened = append(opened, errR, errW)
	remoteFile, err := r.fdRemote.File()
	if err != nil {
		return err
	}
	body, _ := json.Marshal(ipc.LaunchRequest{Env: env})
	fc := fdpass.New(conn)
	werr := fc.Write(body, int(outW.Fd()), int(errW.Fd()), int(remoteFile.Fd()))
	// Our copies go now: the plugin holds the only write ends, so its exit
	// is EOF here, and the fd channel's far end lives only in the plugin.
	outW.Close()
	errW.Close()
	remoteFile.Close()
	r.fdRemote.Close()
	opened = []io.Closer{conn, outR, errR}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetReadDeadline(dl)
	} else {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	}
	// Read the answer even if the send failed: a launcher that refuses us
	// answers and hangs up without reading the request.
	rb, fds, err := fc.Read()
	fdpass.CloseFDs(fds)
	conn.SetReadDeadline(time.Time{})
	if err != nil && werr != nil {
		return fmt.Errorf("send session request to kftray-helper: %w", werr)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the launcher closed the connection", ErrRefused)
		}
		return fmt.Errorf("read kftray-helper answer: %w", err)
	}
	var resp ipc.LaunchResponse
	if err := json.Unmarshal(rb, &resp); err != nil || (resp.Error == "" && resp.PID == 0) {
		return fmt.Errorf("kftray-helper sent a malformed answer %q", rb)
	}
	if resp.Error != "" {
		r.refused = fmt.Errorf("%w: %s", ErrRefused, resp.Error)
		return r.refused
	}
	r.conn, r.stdout, r.pid = conn, outR, resp.PID
	r.stderr = &tailReader{r: errR}
	r.gone = make(chan struct{})
	go func() {
		// The launcher closes the connection once the plugin has exited.
		var b [64]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				close(r.gone)
				return
			}
		}
	}()
	return nil
}

func (r *launcherRunner) Diagnose(context.Context) string { return "" }
func (r *launcherRunner) Stdout() io.ReadCloser           { return r.stdout }
func (r *launcherRunner) Stderr() io.ReadCloser           { return r.stderr }
func (r *launcherRunner) Name() string                    { return "kftray-helper" }
func (r *launcherRunner) ID() string                      { return strconv.Itoa(r.pid) }

func (r *launcherRunner) Wait(ctx context.Context) error {
	if r.gone == nil {
		return nil // never started
	}
	select {
	case <-r.gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill closes the session connection; the launcher then kills the plugin.
func (r *launcherRunner) Kill(ctx context.Context) error {
	r.closeOnce.Do(func() {
		if r.conn != nil {
			r.conn.Close()
		}
	})
	return r.Wait(ctx)
}

func (r *launcherRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}
func (r *launcherRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// tailReader passes the plugin's stderr to go-plugin and keeps its last
// bytes, so a session that fails to start can say why.
type tailReader struct {
	r    io.ReadCloser
	mu   sync.Mutex
	tail []byte
}

const tailMax = 2048

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.mu.Lock()
		t.tail = append(t.tail, p[:n]...)
		if len(t.tail) > tailMax {
			t.tail = t.tail[len(t.tail)-tailMax:]
		}
		t.mu.Unlock()
	}
	return n, err
}

func (t *tailReader) Close() error { return t.r.Close() }

// Tail returns what the plugin last wrote to stderr.
func (t *tailReader) Tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.tail)
}
