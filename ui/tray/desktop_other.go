//go:build !linux && !darwin

package tray

import (
	"context"
	"errors"
)

func CheckDesktop(Options) error { return nil }

// DesktopNotifier has nothing to notify with on this system.
type DesktopNotifier struct{}

// NewNotifier says there are no desktop notifications here.
func NewNotifier() (*DesktopNotifier, error) {
	return nil, errors.New("no desktop notifications on this system")
}

// Close does nothing.
func (*DesktopNotifier) Close() error { return nil }

// Notify does nothing.
func (*DesktopNotifier) Notify(context.Context, int64, Notification) error { return nil }
