// Package paths decides where kftray keeps its files.
package paths

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/kftray-go/kftray/internal/envknob"
)

// ConfigDir returns the directory holding configs.db and friends, by kftray's
// rule: $KFTRAY_CONFIG, else $XDG_CONFIG_HOME/kftray, else ~/.kftray.
// An override (from a --config-dir flag) wins over all of them.
func ConfigDir(override string) (string, error) {
	if override != "" {
		return filepath.Abs(override)
	}
	if d := envknob.Get(envknob.Config); d != "" {
		return filepath.Abs(d)
	}
	if d := envknob.Get(envknob.XDGConfig); d != "" {
		return filepath.Join(d, "kftray"), nil
	}
	home := envknob.Get(envknob.Home)
	if home == "" {
		return "", errors.New("cannot find the kftray config directory: HOME is not set; set KFTRAY_CONFIG or pass --config-dir")
	}
	if !filepath.IsAbs(home) {
		return "", fmt.Errorf("cannot find the kftray config directory: HOME=%q is not an absolute path; set KFTRAY_CONFIG or pass --config-dir", home)
	}
	return filepath.Join(home, ".kftray"), nil
}
