package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// The test binary doubles as a daemon process (for the lock, signal and
// crash tests) and as an API client running as another user (privileged
// tests). childEnv selects the role.
const (
	childEnv    = "KFTRAY_DAEMON_TEST_CHILD" // "daemon" or "client"
	childDirEnv = "KFTRAY_DAEMON_TEST_DIR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "daemon":
		os.Exit(childDaemon(os.Getenv(childDirEnv)))
	case "client":
		os.Exit(childClient(os.Getenv(childDirEnv)))
	}
	os.Exit(m.Run())
}

// childDaemon runs a daemon whose clusters are an in-process world, until
// SIGTERM or SIGINT. Exit 3 means another daemon holds the lock.
func childDaemon(dir string) int {
	w, err := newWorld()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer w.close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := zerolog.New(os.Stderr).Level(zerolog.InfoLevel)
	err = Run(ctx, Options{Dir: dir, Log: log, Engine: w.engine(), CounterPeriod: 20 * time.Millisecond})
	if errors.Is(err, ErrRunning) {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childClient asks the daemon for its status and prints the HTTP code or
// the error.
func childClient(dir string) int {
	c := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	_, err := c.Status(context.Background())
	var se *localapi.StatusError
	switch {
	case err == nil:
		fmt.Println("200")
	case errors.As(err, &se):
		fmt.Printf("%d %s\n", se.Code, se.Msg)
	default:
		fmt.Printf("error %v\n", err)
	}
	return 0
}

// shortDir returns a fresh config directory whose socket path fits.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "kfd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// addWeb stores the config for Service web port 80 and returns it.
func addWeb(t testing.TB, dir string) fwdconfig.Config {
	t.Helper()
	st := openStore(t, dir)
	cfg := fwdconfig.Config{Alias: "web", Namespace: "default", WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80}
	if err := st.AddConfig(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// waitFor polls cond every 10 ms until it holds, failing the test with
// what it waited for after a bounded time.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %s", what, detail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitForward(t testing.TB, c *localapi.Client, ref, what string, cond func(localapi.Forward) bool) localapi.Forward {
	t.Helper()
	var last localapi.Forward
	waitFor(t, what, func() (bool, string) {
		f, err := c.Forward(context.Background(), ref)
		if err != nil {
			return false, err.Error()
		}
		last = f
		return cond(f), fmt.Sprintf("%+v", f)
	})
	return last
}

// echo connects to addr, checks which pod answers and that bytes come back.
func echo(t testing.TB, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	pod, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the pod's greeting through %s: %v", addr, err)
	}
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != msg {
		t.Fatalf("echo through %s: got %q, want %q", addr, got, msg)
	}
	return strings.TrimSpace(pod)
}

// runInProcess runs a daemon in this process until the test ends.
func runInProcess(t *testing.T, dir string, w *world, httpAddr string) (*localapi.Client, localapi.Status) {
	t.Helper()
	return runDaemon(t, Options{Dir: dir, HTTPAddr: httpAddr, Engine: w.engine()})
}

func TestDaemonStartStatusEventsStop(t *testing.T) {
	dir := shortDir(t)
	cfg := addWeb(t, dir)
	w := testWorld(t)
	c, st := runInProcess(t, dir, w, "")
	ctx := context.Background()

	if fi, err := os.Stat(st.Socket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: mode %v, err %v; want 0600", st.Socket, fi.Mode().Perm(), err)
	}

	// Watch the event stream from before the start.
	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	sawRunning := make(chan localapi.Forward, 1)
	go c.Events(evctx, func(ev localapi.Event) error {
		if ev.Forward != nil && ev.Forward.ID == cfg.ID && ev.Forward.Status == localapi.StatusRunning {
			select {
			case sawRunning <- *ev.Forward:
			default:
			}
		}
		return nil
	})

	res, err := c.Start(ctx, localapi.Selection{Refs: []string{"web", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 2 || res.Failed() != 1 {
		t.Fatalf("start results %+v; want web started and nope failed", res)
	}
	for _, r := range res.Results {
		if r.Ref == "nope" && !strings.Contains(r.Error, `no config named "nope"`) {
			t.Errorf("nope: error %q, want it to say no config is named so", r.Error)
		}
	}
	f := waitForward(t, c, "web", "web running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	if f.Pod != "web-1" || f.PID != os.Getpid() || !f.Desired || f.Address == "" {
		t.Fatalf("running forward %+v: want pod web-1, our pid, desired, an address", f)
	}
	if pod := echo(t, f.Address, "hello through the daemon"); pod != "web-1" {
		t.Fatalf("answered by %q, want web-1", pod)
	}
	select {
	case ev := <-sawRunning:
		if ev.Address != f.Address {
			t.Errorf("event address %q, want %q", ev.Address, f.Address)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no running event on the event stream within 10s")
	}

	// Counters reach the store, where every interface reads them.
	s := openStore(t, dir)
	waitFor(t, "counters in the store", func() (bool, string) {
		st, err := s.GetState(ctx, cfg.ID)
		return err == nil && st.Status == fwdconfig.StatusRunning && st.TotalConns >= 1 && st.BytesIn > 0 && st.BytesOut > 0 &&
			st.PID == os.Getpid() && st.Pod == "web-1", fmt.Sprintf("%+v %v", st, err)
	})

	res, err = c.Stop(ctx, localapi.Selection{Refs: []string{fmt.Sprint(cfg.ID)}})
	if err != nil || res.Failed() != 0 {
		t.Fatalf("stop: %+v %v", res, err)
	}
	if got := res.Results[0].Forward; got == nil || got.Status != localapi.StatusStopped || got.Desired {
		t.Fatalf("after stop: %+v; want stopped and not desired", got)
	}
	sst, err := s.GetState(ctx, cfg.ID)
	if err != nil || sst.Status != fwdconfig.StatusStopped {
		t.Fatalf("stored state after stop: %+v %v", sst, err)
	}
	if _, err := net.DialTimeout("tcp", f.Address, time.Second); err == nil {
		t.Fatalf("%s still accepts connections after stop", f.Address)
	}
}

func TestAPIErrors(t *testing.T) {
	dir := shortDir(t)
	addWeb(t, dir)
	c, st := runInProcess(t, dir, testWorld(t), DefaultHTTPAddr)
	ctx := context.Background()

	_, err := c.Forward(ctx, "nope")
	var se *localapi.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound || !strings.Contains(se.Msg, `no config named "nope"`) {
		t.Errorf("GET unknown forward: %v; want 404 naming it", err)
	}
	_, err = c.Start(ctx, localapi.Selection{})
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		t.Errorf("start with an empty selection: %v; want 400", err)
	}

	// The TCP API: token and loopback Host required.
	p := localapi.PathsIn(dir)
	addr, token, err := p.ReadHTTP()
	if err != nil {
		t.Fatal(err)
	}
	if addr != st.HTTPAddr {
		t.Fatalf("api.addr says %s, status says %s", addr, st.HTTPAddr)
	}
	if fi, err := os.Stat(p.Token); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, err %v; want 0600", fi.Mode().Perm(), err)
	}
	for _, tc := range []struct {
		name, token, host string
		want              int
	}{
		{"right token", token, "", 200},
		{"no token", "", "", 401},
		{"wrong token", strings.Repeat("0", len(token)), "", 401},
		{"foreign Host (DNS rebinding)", token, "evil.example:80", 403},
		{"localhost Host", token, "localhost", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr+localapi.Version+"/status", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.want)
			}
		})
	}
	tc := localapi.NewTCPClient(addr, token)
	defer tc.Close()
	fs, err := tc.Forwards(ctx)
	if err != nil || len(fs) != 1 || fs[0].Name != "web" {
		t.Fatalf("forwards over TCP: %+v %v", fs, err)
	}
}

// syncBuffer is a bytes.Buffer the child's output goroutine and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startChild starts the test binary as a daemon on dir.
func startChild(t testing.TB, dir string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=daemon", childDirEnv+"="+dir)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, out
}

// waitChildUp waits until the child answers on the socket.
func waitChildUp(t *testing.T, dir string, cmd *exec.Cmd, out *syncBuffer) *localapi.Client {
	t.Helper()
	c := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	t.Cleanup(c.Close)
	waitFor(t, "the daemon's socket", func() (bool, string) {
		st, err := c.Status(context.Background())
		if err != nil {
			return false, err.Error() + "; daemon output: " + out.String()
		}
		return st.PID == cmd.Process.Pid, fmt.Sprintf("status from pid %d, want %d", st.PID, cmd.Process.Pid)
	})
	return c
}

// waitExit waits (bounded) for the child to exit and returns its code.
func waitExit(t *testing.T, cmd *exec.Cmd, out *syncBuffer) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return -int(ws.Signal())
			}
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("daemon pid %d did not exit within 20s; output:\n%s", cmd.Process.Pid, out)
		return 0
	}
}

func TestSingleInstanceAcrossProcesses(t *testing.T) {
	dir := shortDir(t)
	a, aout := startChild(t, dir)
	waitChildUp(t, dir, a, aout)

	b, bout := startChild(t, dir)
	if code := waitExit(t, b, bout); code != 3 {
		t.Fatalf("second daemon exited %d, want 3 (already running); output:\n%s", code, bout)
	}
	want := fmt.Sprintf("already running (pid %d", a.Process.Pid)
	if !strings.Contains(bout.String(), want) || !strings.Contains(bout.String(), "kftray daemon stop") {
		t.Fatalf("second daemon said %q; want it to name the running pid (%q) and how to stop it", bout, want)
	}
	a.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, a, aout); code != 0 {
		t.Fatalf("first daemon exited %d after SIGTERM; output:\n%s", code, aout)
	}
	for _, name := range []string{localapi.SocketName, localapi.PIDName} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind after a clean stop (%v)", name, err)
		}
	}
}

func TestSIGTERMWritesStoppedThenRestartRestores(t *testing.T) {
	dir := shortDir(t)
	cfg := addWeb(t, dir)
	ctx := context.Background()

	a, aout := startChild(t, dir)
	c := waitChildUp(t, dir, a, aout)
	if _, err := c.Start(ctx, localapi.Selection{Refs: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	f := waitForward(t, c, "web", "web running in the first daemon", func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.PID == a.Process.Pid
	})
	echo(t, f.Address, "x")

	a.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, a, aout); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM; output:\n%s", code, aout)
	}
	s := openStore(t, dir)
	st, err := s.GetState(ctx, cfg.ID)
	if err != nil || st.Status != fwdconfig.StatusStopped {
		t.Fatalf("state after SIGTERM: %+v %v; want stopped", st, err)
	}
	if _, err := net.DialTimeout("tcp", f.Address, time.Second); err == nil {
		t.Fatalf("%s still accepts connections after the daemon stopped", f.Address)
	}

	// The forward was running when the daemon stopped: the next one
	// restores it.
	b, bout := startChild(t, dir)
	c = waitChildUp(t, dir, b, bout)
	f = waitForward(t, c, "web", "web restored in the second daemon", func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.PID == b.Process.Pid
	})
	if pod := echo(t, f.Address, "restored"); pod != "web-1" {
		t.Fatalf("restored forward answered by %q", pod)
	}
	b.Process.Signal(syscall.SIGTERM)
	waitExit(t, b, bout)
}

func TestStaleStateAfterSIGKILL(t *testing.T) {
	dir := shortDir(t)
	cfg := addWeb(t, dir)
	ctx := context.Background()

	a, aout := startChild(t, dir)
	c := waitChildUp(t, dir, a, aout)
	if _, err := c.Start(ctx, localapi.Selection{All: true}); err != nil {
		t.Fatal(err)
	}
	waitForward(t, c, "web", "web running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	s := openStore(t, dir)
	waitFor(t, "the running state in the store", func() (bool, string) {
		st, err := s.GetState(ctx, cfg.ID)
		return err == nil && st.Status == fwdconfig.StatusRunning, fmt.Sprintf("%+v %v", st, err)
	})
	a.Process.Kill()
	if code := waitExit(t, a, aout); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d, want killed", code)
	}

	// The dead daemon's row still says running; readers without a daemon
	// see through it.
	st, err := s.GetState(ctx, cfg.ID)
	if err != nil || st.Status != fwdconfig.StatusRunning || st.PID != a.Process.Pid {
		t.Fatalf("state after SIGKILL: %+v %v; want the dead daemon's running row", st, err)
	}
	fs, err := StoredForwards(ctx, s)
	if err != nil || len(fs) != 1 || fs[0].Status != localapi.StatusStopped || !strings.Contains(fs[0].LastError, "gone") {
		t.Fatalf("stored view after SIGKILL: %+v %v; want stopped with a note", fs, err)
	}

	// The next daemon clears the stale row before it serves. (Forget that
	// web should run, or its restore would overwrite the row anyway.)
	if err := s.SetSetting(ctx, DesiredKey, "[]"); err != nil {
		t.Fatal(err)
	}
	b, bout := startChild(t, dir)
	c = waitChildUp(t, dir, b, bout)
	if _, err := s.GetState(ctx, cfg.ID); !errors.Is(err, fwdconfig.ErrNotFound) {
		t.Fatalf("the dead daemon's state survived a new daemon's start: %v", err)
	}
	f, err := c.Forward(ctx, "web")
	if err != nil || f.Status != localapi.StatusStopped || f.PID != 0 {
		t.Fatalf("web after cleanup: %+v %v; want stopped, no owner", f, err)
	}
	b.Process.Signal(syscall.SIGTERM)
	waitExit(t, b, bout)
}

func TestStopWithoutDaemonForgetsDesired(t *testing.T) {
	dir := shortDir(t)
	cfg := addWeb(t, dir)
	ctx := context.Background()
	s := openStore(t, dir)
	// A dead process's running row and a desired entry, as a crash leaves them.
	if err := s.SetSetting(ctx, DesiredKey, fmt.Sprintf("[%d]", cfg.ID)); err != nil {
		t.Fatal(err)
	}
	dead := deadPID(t)
	if err := s.PutState(ctx, &store.State{ConfigID: cfg.ID, Status: fwdconfig.StatusRunning, PID: dead, LocalAddr: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	core := NewCore(CoreOptions{Store: s, Log: zerolog.Nop(), Remember: true})
	res, err := core.Stop(ctx, localapi.Selection{Refs: []string{"web"}})
	if err != nil || res.Failed() != 0 {
		t.Fatalf("stop: %+v %v", res, err)
	}
	st, _ := s.GetState(ctx, cfg.ID)
	d, _ := core.Desired(ctx)
	if st.Status != fwdconfig.StatusStopped || d[cfg.ID] {
		t.Fatalf("after stop without daemon: state %+v, desired %v; want stopped and not desired", st, d)
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestStartAgainAppliesAnEditedConfig(t *testing.T) {
	dir := shortDir(t)
	cfg := addWeb(t, dir)
	c, _ := runInProcess(t, dir, testWorld(t), "")
	ctx := context.Background()
	if _, err := c.Start(ctx, localapi.Selection{Refs: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	before := waitForward(t, c, "web", "web running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })

	// Edit the local port (as `kftray config edit` would), then start again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := openStore(t, dir)
	if _, err := s.ModifyConfig(ctx, cfg.ID, func(c *fwdconfig.Config) error { c.LocalPort = port; return nil }); err != nil {
		t.Fatal(err)
	}
	res, err := c.Start(ctx, localapi.Selection{Refs: []string{"web"}})
	if err != nil || res.Failed() != 0 {
		t.Fatalf("start again: %+v %v", res, err)
	}
	want := fmt.Sprintf("127.0.0.1:%d", port)
	after := waitForward(t, c, "web", "web running on "+want, func(f localapi.Forward) bool {
		return f.Status == localapi.StatusRunning && f.Address == want
	})
	if after.Config.LocalPort != port {
		t.Fatalf("forward shows config %+v, want local_port %d", after.Config, port)
	}
	if _, err := net.DialTimeout("tcp", before.Address, time.Second); err == nil {
		t.Fatalf("the old address %s still accepts connections", before.Address)
	}
	echo(t, want, "edited")

	// Starting it again unchanged leaves it alone.
	if _, err := c.Start(ctx, localapi.Selection{Refs: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	if f, _ := c.Forward(ctx, "web"); f.Status != localapi.StatusRunning || f.Address != want || f.TotalConns < 1 {
		t.Fatalf("after an unchanged start: %+v; want the same forward, still running", f)
	}
}

func TestDeletedConfigStopsItsForward(t *testing.T) {
	dir := shortDir(t)
	cfg := addWeb(t, dir)
	c, _ := runInProcess(t, dir, testWorld(t), "")
	ctx := context.Background()
	if _, err := c.Start(ctx, localapi.Selection{Refs: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	f := waitForward(t, c, "web", "web running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	s := openStore(t, dir)
	if err := s.DeleteConfigs(ctx, cfg.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted config's forward to stop", func() (bool, string) {
		st, err := c.Status(ctx)
		return err == nil && st.Forwards == 0, fmt.Sprintf("%+v %v", st, err)
	})
	if _, err := net.DialTimeout("tcp", f.Address, time.Second); err == nil {
		t.Fatalf("%s still accepts connections after its config was deleted", f.Address)
	}
}

func TestConfigsImportExportDeleteThroughTheAPI(t *testing.T) {
	dir := shortDir(t)
	c, _ := runInProcess(t, dir, testWorld(t), "")
	ctx := context.Background()

	res, err := c.ImportConfigs(ctx, []byte(`[{"alias":"api","namespace":"default","service":"web","workload_type":"service","protocol":"tcp","remote_port":80,"local_port":0}]`))
	if err != nil || len(res.Added) != 1 {
		t.Fatalf("import: %+v %v", res, err)
	}
	// A bad file is refused whole, saying what is wrong where.
	_, err = c.ImportConfigs(ctx, []byte(`[{"alias":"ok","namespace":"default","service":"web","workload_type":"service","protocol":"tcp","remote_port":80},
		{"alias":"bad","service":"web","workload_type":"service","protocol":"tcp","remote_port":80}]`))
	var se *localapi.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(se.Msg, "entry 2") || !strings.Contains(se.Msg, "namespace") {
		t.Fatalf("bad import: %v; want 400 naming entry 2's namespace", err)
	}
	if _, err := c.Forward(ctx, "ok"); err == nil {
		t.Fatal("part of a refused import was written")
	}
	exp, err := c.ExportConfigs(ctx)
	if err != nil || !strings.Contains(string(exp), `"alias": "api"`) {
		t.Fatalf("export: %s %v", exp, err)
	}

	if _, err := c.Start(ctx, localapi.Selection{Refs: []string{"api"}}); err != nil {
		t.Fatal(err)
	}
	f := waitForward(t, c, "api", "api running", func(f localapi.Forward) bool { return f.Status == localapi.StatusRunning })
	id, err := c.DeleteConfig(ctx, "api")
	if err != nil || id != f.ID {
		t.Fatalf("delete: %d %v", id, err)
	}
	if _, err := net.DialTimeout("tcp", f.Address, time.Second); err == nil {
		t.Fatalf("%s still accepts connections after its config was deleted", f.Address)
	}
	if _, err := c.Forward(ctx, "api"); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Fatalf("after delete: %v; want 404", err)
	}
	if _, err := c.DeleteConfig(ctx, "api"); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Fatalf("delete again: %v; want 404", err)
	}
}

// slowBinder holds the bind of one config until its start is given up, and
// binds the others directly.
type slowBinder struct {
	id      int64
	entered chan struct{}
	once    sync.Once
}

func (b *slowBinder) Listen(ctx context.Context, req forwarder.BindRequest) (net.Listener, error) {
	if req.ConfigID == b.id {
		b.once.Do(func() { close(b.entered) })
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return forwarder.DirectBinder{}.Listen(ctx, req)
}

// The API server may spend its whole shutdown timeout on a request that
// does not finish (here a start whose bind hangs); the forwards are still
// stopped and their stopped states written, with time of their own.
func TestShutdownWritesStoppedStatesAfterASlowRequest(t *testing.T) {
	dir := shortDir(t)
	s := openStore(t, dir)
	ctx := context.Background()
	// Many forwards, so that stopping them leaves states for the final
	// writes (not all are written by the state writer while it runs).
	const n = 20
	var refs []string
	for i := range n {
		cfg := fwdconfig.Config{Alias: fmt.Sprintf("web%d", i), Namespace: "default", WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80}
		if err := s.AddConfig(ctx, &cfg); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, cfg.Alias)
	}
	slow := fwdconfig.Config{Alias: "slow", Namespace: "default", WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80}
	if err := s.AddConfig(ctx, &slow); err != nil {
		t.Fatal(err)
	}
	w := testWorld(t)
	eng := w.engine()
	b := &slowBinder{id: slow.ID, entered: make(chan struct{})}
	eng.Binder = b

	dctx, stopDaemon := context.WithCancel(ctx)
	done := make(chan error, 1)
	ready := make(chan localapi.Status, 1)
	go func() {
		done <- Run(dctx, Options{Dir: dir, Log: zerolog.Nop(), Engine: eng, CounterPeriod: 20 * time.Millisecond,
			ShutdownTimeout: 200 * time.Millisecond, Ready: func(s localapi.Status) { ready <- s }})
	}()
	st := <-ready
	c := localapi.NewUnixClient(st.Socket)
	defer c.Close()
	if _, err := c.Start(ctx, localapi.Selection{Refs: refs}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every forward running in the store", func() (bool, string) {
		states, err := s.GetStates(ctx)
		running := 0
		for _, st := range states {
			if st.Status == fwdconfig.StatusRunning {
				running++
			}
		}
		return err == nil && running == n, fmt.Sprintf("%d running, %v", running, err)
	})
	// A start that hangs in its bind, so the API cannot finish it.
	reqCtx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		c2 := localapi.NewUnixClient(st.Socket)
		defer c2.Close()
		c2.Start(reqCtx, localapi.Selection{Refs: []string{"slow"}})
	}()
	<-b.entered

	stopDaemon()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop within 30s")
	}
	cancelReq()
	<-slowDone
	states, err := s.GetStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Status != fwdconfig.StatusStopped {
			t.Errorf("config %d after the daemon stopped: %+v; want stopped", st.ConfigID, st)
		}
	}
}

// A client's kubeconfig list must be absolute paths: a relative one would
// be read from the daemon's working directory, not the client's.
func TestStartRejectsARelativeKubeconfig(t *testing.T) {
	dir := shortDir(t)
	addWeb(t, dir)
	c, _ := runInProcess(t, dir, testWorld(t), "")
	_, err := c.Start(context.Background(), localapi.Selection{Refs: []string{"web"}, Kube: &localapi.KubeEnv{Kubeconfig: "kube/config"}})
	var se *localapi.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(se.Msg, `"kube/config" is not an absolute path`) {
		t.Fatalf("start with a relative kubeconfig: %v; want 400 naming it", err)
	}
}
