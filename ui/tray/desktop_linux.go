package tray

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/kftray-go/kftray/internal/envknob"
)

// CheckDesktop makes sure there is a session bus to put the icon on, and
// warns when no tray host (StatusNotifierWatcher) runs on it yet: the
// icon appears once one starts.
func CheckDesktop(opts Options) error {
	conn, err := sessionBus()
	if err != nil {
		return err
	}
	defer conn.Close()
	var has bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has); err == nil && !has {
		opts.Log.Warn().Msg("no system tray host on this desktop session (org.kde.StatusNotifierWatcher); the icon appears when one starts (GNOME needs the AppIndicator extension)")
	}
	return nil
}

func sessionBus() (*dbus.Conn, error) {
	addr := envknob.Get(envknob.DBusSessionBus)
	if addr == "" {
		return nil, errors.New("no desktop session bus (DBUS_SESSION_BUS_ADDRESS is not set): kftray tray runs in a graphical session; the web UI works anywhere: kftray ui")
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to the session bus %s: %w", addr, err)
	}
	return conn, nil
}

// DesktopNotifier sends org.freedesktop.Notifications over the session
// bus; a newer notification about the same forward replaces the last.
type DesktopNotifier struct {
	mu   sync.Mutex
	conn *dbus.Conn
	ids  map[int64]uint32
}

// NewNotifier connects to the session bus's notification service.
func NewNotifier() (*DesktopNotifier, error) {
	conn, err := sessionBus()
	if err != nil {
		return nil, err
	}
	return &DesktopNotifier{conn: conn, ids: map[int64]uint32{}}, nil
}

// Close closes its bus connection.
func (d *DesktopNotifier) Close() error { return d.conn.Close() }

// Notify shows n.
func (d *DesktopNotifier) Notify(ctx context.Context, key int64, n Notification) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	urgency := byte(1)
	icon := "network-transmit-receive"
	if n.Urgent {
		urgency, icon = 2, "dialog-warning"
	}
	hints := map[string]dbus.Variant{"urgency": dbus.MakeVariant(urgency), "desktop-entry": dbus.MakeVariant("kftray")}
	var id uint32
	err := d.conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications").CallWithContext(ctx,
		"org.freedesktop.Notifications.Notify", 0,
		"kftray", d.ids[key], icon, n.Summary, n.Body, []string{}, hints, int32(-1)).Store(&id)
	if err != nil {
		return fmt.Errorf("org.freedesktop.Notifications.Notify: %w", err)
	}
	d.ids[key] = id
	return nil
}
