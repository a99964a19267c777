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
	Editor     = "EDITOR" // `kftray config edit`, after VISUAL
	Visual     = "VISUAL"
	NoColor    = "NO_COLOR" // kftui: no colors when set to anything (https://no-color.org)

	// systemd socket activation, read by `kftray-helper service` only.
	ListenPID = "LISTEN_PID"
	ListenFDs = "LISTEN_FDS"

	// go-plugin's handshake, which `kftray-helper plugin` checks before
	// go-plugin reads it: the forwarder's AutoMTLS certificate and the
	// session socket directory the launcher chose.
	PluginClientCert = "PLUGIN_CLIENT_CERT"
	PluginSocketDir  = "PLUGIN_UNIX_SOCKET_DIR"

	// `kftray helper install` run as root through sudo/pkexec: which user
	// to allow when --allow-uid is not given. Only root's own install
	// decision reads them; the helper never authorizes by environment.
	SudoUID   = "SUDO_UID"
	PkexecUID = "PKEXEC_UID"

	// kftray-server (the in-cluster relay). The first four are the names
	// kftray's own relay reads, so its manifests work unchanged.
	RelayRemoteAddress  = "REMOTE_ADDRESS"
	RelayRemotePort     = "REMOTE_PORT"
	RelayLocalPort      = "LOCAL_PORT"
	RelayProxyType      = "PROXY_TYPE" // tcp | udp
	RelayHealthAddr     = "KFTRAY_SERVER_HEALTH_ADDR"
	RelayUDPIdleTimeout = "KFTRAY_SERVER_UDP_IDLE_TIMEOUT"

	DevclusterBin  = "KFTRAY_DEVCLUSTER_BIN"  // dev cluster binary (e2e/cluster); default scripts/devcluster/bin/devcluster
	DevclusterKeep = "KFTRAY_DEVCLUSTER_KEEP" // non-empty: keep a test cluster's directory (logs) after Stop

	// The desktop session bus of `kftray tray` (its menu, notifications);
	// the tray library (fyne.io/systray) reads it too.
	DBusSessionBus = "DBUS_SESSION_BUS_ADDRESS"

	// Web UI browser tests (e2e/webui): write screenshots of the main
	// views into this directory (relative to the module root), e.g. docs/img.
	WebUIScreenshots = "KFTRAY_WEBUI_SCREENSHOTS"
)

// Get returns the value of one of the names above.
func Get(name string) string { return os.Getenv(name) }
