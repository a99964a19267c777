//go:build !linux && !(darwin && cgo)

package tray

import (
	"context"
	"errors"
	"runtime"
)

// Run explains why there is no tray here: macOS's menu bar needs a build
// with cgo (Cocoa); other systems have none we support.
func Run(context.Context, Options) error {
	if runtime.GOOS == "darwin" {
		return errors.New("this kftray was built without cgo, which the macOS menu bar needs; use a release build (CGO_ENABLED=1), or the web UI: kftray ui")
	}
	return errors.New("kftray tray supports Linux desktops and macOS; use the web UI: kftray ui")
}
