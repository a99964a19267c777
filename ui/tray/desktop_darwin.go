package tray

import (
	"context"
	"fmt"
	"os/exec"
)

func CheckDesktop(Options) error { return nil }

// DesktopNotifier posts to the macOS notification center through
// osascript (the message goes as arguments, never into the script).
type DesktopNotifier struct{}

// NewNotifier returns the notification center's notifier.
func NewNotifier() (*DesktopNotifier, error) { return &DesktopNotifier{}, nil }

// Close does nothing.
func (*DesktopNotifier) Close() error { return nil }

// Notify shows n.
func (*DesktopNotifier) Notify(ctx context.Context, _ int64, n Notification) error {
	cmd := exec.CommandContext(ctx, "/usr/bin/osascript",
		"-e", "on run argv", "-e", "display notification (item 2 of argv) with title \"kftray\" subtitle (item 1 of argv)", "-e", "end run",
		n.Summary, n.Body)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("osascript: %w: %s", err, out)
	}
	return nil
}
