//go:build !linux && !darwin

package autostart

import "errors"

var errUnsupported = errors.New("kftray autostart supports Linux (systemd, XDG autostart) and macOS (launchd)")

// Enable is not supported here.
func Enable(Spec, Env) (Report, error) { return Report{}, errUnsupported }

// Disable is not supported here.
func Disable(Env) (Report, error) { return Report{}, errUnsupported }

// Status is not supported here.
func Status(Env) (Report, error) { return Report{}, errUnsupported }
