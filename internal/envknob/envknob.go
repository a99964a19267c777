// Package envknob is the one place where kftray binaries read environment
// variables, so the environment surface can be audited in a single file.
package envknob

import "os"

// Names of every environment variable read by kftray's own code.
const (
	Config     = "KFTRAY_CONFIG"    // config directory override
	LogLevel   = "KFTRAY_LOG_LEVEL" // zerolog level name
	XDGConfig  = "XDG_CONFIG_HOME"
	Home       = "HOME"
	CI         = "CI"
	Kubeconfig = "KUBECONFIG"

	DevclusterBin  = "KFTRAY_DEVCLUSTER_BIN"  // dev cluster binary (e2e/cluster); default scripts/devcluster/bin/devcluster
	DevclusterKeep = "KFTRAY_DEVCLUSTER_KEEP" // non-empty: keep a test cluster's directory (logs) after Stop
)

// Get returns the value of one of the names above.
func Get(name string) string { return os.Getenv(name) }
