package tray_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/forwarder"
	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/forwarder/daemon/daemontest"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/ui/tray"
	"github.com/kftray-go/kftray/ui/web"
)

// The tray runs in a child process (the tray library keeps its state in
// package variables, one tray per process): this test binary, with these
// variables set.
const (
	childDirEnv  = "KFTRAY_TRAY_TEST_DIR"  // the daemon's config directory
	childOpenEnv = "KFTRAY_TRAY_TEST_OPEN" // where "Open kftray" writes its login link
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(childTray(dir, os.Getenv(childOpenEnv)))
	}
	os.Exit(m.Run())
}

func childTray(dir, openFile string) int {
	c := localapi.NewUnixClient(localapi.PathsIn(dir).Socket)
	defer c.Close()
	log := zerolog.New(os.Stderr).Level(zerolog.InfoLevel)
	n, err := tray.NewNotifier()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer n.Close()
	err = tray.Run(context.Background(), tray.Options{Client: c, Log: log, Notify: n, Refresh: 200 * time.Millisecond,
		Open: func(ctx context.Context) error {
			link, err := c.UILogin(ctx)
			if err != nil {
				return err
			}
			return os.WriteFile(openFile, []byte(link.URL), 0o600)
		}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// sessionBus starts a private dbus-daemon and returns its address.
func sessionBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dbus-daemon: %v (apt-get install dbus)", err)
		}
		t.Skipf("dbus-daemon: %v (apt-get install dbus)", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--print-address", "--address=unix:path="+filepath.Join(dir, "bus"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading dbus-daemon's address: %v", err)
	}
	return strings.TrimSpace(line)
}

// desktop plays the desktop's part on the bus: the tray host
// (StatusNotifierWatcher) and the notification server.
type desktop struct {
	conn *dbus.Conn

	mu      sync.Mutex
	items   []string // bus names of registered StatusNotifierItems
	notes   []note
	nextID  uint32
	changed chan struct{}
}

type note struct {
	Summary, Body string
	Replaces      uint32
	Urgency       byte
}

func newDesktop(t *testing.T, addr string) *desktop {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	d := &desktop{conn: conn, changed: make(chan struct{}, 1)}
	for _, name := range []string{"org.kde.StatusNotifierWatcher", "org.freedesktop.Notifications"} {
		if r, err := conn.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
			t.Fatalf("owning %s: %v %v", name, r, err)
		}
	}
	if err := conn.Export((*watcher)(d), "/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export((*notifications)(d), "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	return d
}

type watcher desktop

func (w *watcher) RegisterStatusNotifierItem(sender dbus.Sender, path string) *dbus.Error {
	d := (*desktop)(w)
	d.mu.Lock()
	d.items = append(d.items, string(sender))
	d.mu.Unlock()
	return nil
}

type notifications desktop

func (n *notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	d := (*desktop)(n)
	d.mu.Lock()
	defer d.mu.Unlock()
	var urgency byte
	if v, ok := hints["urgency"]; ok {
		urgency, _ = v.Value().(byte)
	}
	d.notes = append(d.notes, note{Summary: summary, Body: body, Replaces: replaces, Urgency: urgency})
	d.nextID++
	return d.nextID, nil
}

func (d *desktop) notifications() []note {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]note(nil), d.notes...)
}

// item is a menu item as the dbusmenu interface shows it.
type item struct {
	ID      int32
	Label   string
	Toggle  string
	Checked bool
	Enabled bool
	Type    string
}

// menu reads the tray's menu as a tray host does (com.canonical.dbusmenu
// GetLayout on the item's /StatusNotifierItem/menu).
func (d *desktop) menu(name string) ([]item, error) {
	var rev uint32
	var layout struct {
		ID    int32
		Props map[string]dbus.Variant
		Kids  []dbus.Variant
	}
	call := d.conn.Object(name, "/StatusNotifierItem/menu").Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if err := call.Store(&rev, &layout); err != nil {
		return nil, err
	}
	var out []item
	for _, k := range layout.Kids {
		f, ok := k.Value().([]any)
		if !ok || len(f) != 3 {
			return nil, fmt.Errorf("menu item %v: not (id, properties, children)", k.Value())
		}
		props, _ := f[1].(map[string]dbus.Variant)
		it := item{ID: f[0].(int32), Enabled: true}
		str := func(k string) string { s, _ := props[k].Value().(string); return s }
		it.Label, it.Toggle, it.Type = str("label"), str("toggle-type"), str("type")
		if v, ok := props["toggle-state"]; ok {
			n, _ := v.Value().(int32)
			it.Checked = n == 1
		}
		if v, ok := props["enabled"]; ok {
			it.Enabled, _ = v.Value().(bool)
		}
		if v, ok := props["visible"]; ok && v.Value() == false {
			continue
		}
		out = append(out, it)
	}
	return out, nil
}

func (d *desktop) click(name string, id int32) error {
	return d.conn.Object(name, "/StatusNotifierItem/menu").Call("com.canonical.dbusmenu.Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(0)).Err
}

// icon reads the item's IconPixmap (ARGB32, network byte order) and says
// whether the failing dot (red at 48,48 of the 64×64 icon) is there.
func (d *desktop) iconFailing(name string) (bool, error) {
	v, err := d.conn.Object(name, "/StatusNotifierItem").GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		return false, err
	}
	var px []struct {
		W, H int32
		Data []byte
	}
	if err := v.Store(&px); err != nil {
		return false, err
	}
	for _, p := range px {
		if p.W == 64 && p.H == 64 && len(p.Data) == 64*64*4 {
			i := (48*64 + 48) * 4
			a, r, g, b := p.Data[i], p.Data[i+1], p.Data[i+2], p.Data[i+3]
			return a == 0xff && r > 0xc0 && g < 0x60 && b < 0x60, nil
		}
	}
	return false, fmt.Errorf("no 64x64 pixmap in %v", px)
}

func find(items []item, prefix string) (item, bool) {
	for _, it := range items {
		if strings.HasPrefix(it.Label, prefix) {
			return it, true
		}
	}
	return item{}, false
}

// waitFor polls cond until it holds (30 s at most).
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
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

// TestTrayOnASessionBus: the tray registers with the desktop's tray host,
// shows a check-mark item per forward that toggles it in the daemon, start
// all and stop all, a failing icon and notifications when a forward fails
// or recovers (none once the setting is off), opens the web UI, and quits
// leaving the forwards running.
func TestTrayOnASessionBus(t *testing.T) {
	addr := sessionBus(t)
	d := newDesktop(t, addr)

	w := daemontest.NewWorld(t)
	engine := w.Engine()
	// Slow retries: the test restores the API server after the first.
	engine.Backoff = forwarder.Backoff{Initial: time.Second, Max: 5 * time.Second}
	c, st := daemontest.Run(t, fwdaemon.Options{HTTPAddr: fwdaemon.DefaultHTTPAddr, UI: web.Handler(),
		Engine: engine, CounterPeriod: 50 * time.Millisecond})
	dir := st.ConfigDir
	ctx := context.Background()
	// A port in use: "broken" cannot listen, so it fails.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	for _, cfg := range []fwdconfig.Config{
		{Alias: "web", Namespace: "default", WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80, HTTPLogsAutoCleanup: true},
		{Alias: "broken", Namespace: "default", WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80, LocalPort: busyPort, HTTPLogsAutoCleanup: true},
		{Alias: "broken2", Namespace: "default", WorkloadType: "service", Protocol: "tcp", Service: "web", RemotePort: 80, LocalPort: busyPort, HTTPLogsAutoCleanup: true},
	} {
		if _, err := c.CreateConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}

	openFile := filepath.Join(t.TempDir(), "opened")
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childDirEnv+"="+dir, childOpenEnv+"="+openFile, "DBUS_SESSION_BUS_ADDRESS="+addr)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	t.Cleanup(func() {
		child.Process.Kill()
		<-exited
	})

	var name string
	waitFor(t, "the tray to register with the tray host", func() (bool, string) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.items) > 0 {
			name = d.items[0]
		}
		return name != "", ""
	})
	var items []item
	menuHas := func(what string, cond func([]item) bool) {
		t.Helper()
		waitFor(t, what, func() (bool, string) {
			var err error
			items, err = d.menu(name)
			return err == nil && cond(items), fmt.Sprintf("%+v %v", items, err)
		})
	}
	menuHas("the menu with every forward", func(its []item) bool {
		web, ok1 := find(its, "web — stopped")
		_, ok2 := find(its, "broken — stopped")
		_, ok3 := find(its, "broken2 — stopped")
		_, ok4 := find(its, "kftray: 0 of 3 running")
		_, ok5 := find(its, "Start all")
		_, ok6 := find(its, "Stop all")
		_, ok7 := find(its, "Open kftray")
		_, ok8 := find(its, "Quit tray")
		return ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8 && web.Toggle == "checkmark" && !web.Checked
	})
	if f, err := d.iconFailing(name); err != nil || f {
		t.Fatalf("icon failing=%v (%v) with nothing failing", f, err)
	}

	// Toggle web on through its item.
	web, _ := find(items, "web — ")
	if err := d.click(name, web.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web running in the daemon", func() (bool, string) {
		f, err := c.Forward(ctx, "web")
		return err == nil && f.Status == localapi.StatusRunning && f.Desired, fmt.Sprintf("%+v %v", f, err)
	})
	menuHas("web checked, with its address", func(its []item) bool {
		it, ok := find(its, "web — 127.0.0.1:")
		return ok && it.Checked
	})

	// broken fails: a notification, a failing icon.
	broken, _ := find(items, "broken — ")
	if err := d.click(name, broken.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failure notified", func() (bool, string) {
		for _, n := range d.notifications() {
			if n.Summary == "broken failed" && strings.Contains(n.Body, "address already in use") && n.Urgency == 2 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", d.notifications())
	})
	waitFor(t, "the failing icon", func() (bool, string) {
		f, err := d.iconFailing(name)
		return err == nil && f, fmt.Sprint(err)
	})
	menuHas("the header counting it", func(its []item) bool {
		_, ok := find(its, "kftray: 1 of 3 running, 1 failing")
		return ok
	})

	// web loses its API server and retries, then recovers: notified.
	w.Server.StopAPI()
	waitFor(t, "web retrying", func() (bool, string) {
		f, err := c.Forward(ctx, "web")
		return err == nil && f.Status == localapi.StatusRetrying && f.Attempt > 0, fmt.Sprintf("%+v %v", f, err)
	})
	if err := w.Server.StartAPI(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recovery notified", func() (bool, string) {
		for _, n := range d.notifications() {
			if n.Summary == "web recovered" && strings.HasPrefix(n.Body, "running on 127.0.0.1:") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", d.notifications())
	})

	// Notifications off: broken2 fails silently.
	if err := c.SetSetting(ctx, fwdconfig.SettingNotificationsEnabled, "false"); err != nil {
		t.Fatal(err)
	}
	before := len(d.notifications())
	broken2, _ := find(items, "broken2 — ")
	if err := d.click(name, broken2.ID); err != nil {
		t.Fatal(err)
	}
	// The menu shows the failure after the tray decided about notifying.
	menuHas("broken2 failed in the menu", func(its []item) bool {
		_, ok := find(its, "broken2 — failed")
		return ok
	})
	if got := d.notifications(); len(got) != before {
		t.Fatalf("notified with notifications_enabled=false: %+v", got[before:])
	}

	// Stop all, start all.
	stopAll, _ := find(items, "Stop all")
	if err := d.click(name, stopAll.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "everything stopped", func() (bool, string) {
		fs, err := c.Forwards(ctx)
		for _, f := range fs {
			if f.Desired || f.Status != localapi.StatusStopped {
				return false, fmt.Sprintf("%s %s desired=%v", f.Name, f.Status, f.Desired)
			}
		}
		return err == nil, fmt.Sprint(err)
	})
	menuHas("nothing checked, icon fine", func(its []item) bool {
		for _, it := range its {
			if it.Checked {
				return false
			}
		}
		f, err := d.iconFailing(name)
		return err == nil && !f
	})
	startAll, _ := find(items, "Start all")
	if err := d.click(name, startAll.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web running again", func() (bool, string) {
		f, err := c.Forward(ctx, "web")
		return err == nil && f.Status == localapi.StatusRunning, fmt.Sprintf("%+v %v", f, err)
	})

	// Open kftray: a login link to the web UI.
	open, _ := find(items, "Open kftray")
	if err := d.click(name, open.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the web UI opened", func() (bool, string) {
		b, err := os.ReadFile(openFile)
		return err == nil && strings.Contains(string(b), "/ui/login?token="), fmt.Sprint(err)
	})

	// Quit: the tray ends, the forwards keep running.
	quit, _ := find(items, "Quit tray")
	if err := d.click(name, quit.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("tray exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the tray did not quit within 30s")
	}
	if f, err := c.Forward(ctx, "web"); err != nil || f.Status != localapi.StatusRunning {
		t.Fatalf("after quitting the tray web is %+v %v; want still running", f, err)
	}
}
