package fwdconfig

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Setting kinds: how a value is spelled.
const (
	SettingBool = "bool" // "true" or "false"
	SettingInt  = "int"  // a decimal integer within Min..Max
)

// Setting describes one global setting (the store's settings table) that
// users may change from any interface.
type Setting struct {
	Key      string
	Kind     string // SettingBool, SettingInt
	Default  string
	Min, Max int64 // SettingInt only
	Help     string
}

// Setting keys.
const (
	// SettingHTTPLogsDefaultEnabled is whether HTTP traffic logging is on
	// for forwards whose config does not say (the HTTP traffic logs issue
	// reads it; forms use it to pre-fill http_logs_enabled).
	SettingHTTPLogsDefaultEnabled = "http_logs_default_enabled"
	// SettingHTTPLogsMaxTotalSize caps the bytes of every forward's HTTP
	// log files together; the hourly sweep removes the oldest rotated
	// files beyond it.
	SettingHTTPLogsMaxTotalSize = "http_logs_max_total_size"

	// SettingNotificationsEnabled is whether `kftray tray` shows desktop
	// notifications when a forward fails or recovers.
	SettingNotificationsEnabled = "notifications_enabled"
	// SettingMCPServerEnabled turns on the daemon's MCP endpoint
	// (Streamable HTTP on loopback, behind the API token); kftray's
	// setting of the same name. `kftray mcp` (stdio) needs no setting.
	SettingMCPServerEnabled = "mcp_server_enabled"
	// SettingMCPServerPort is the loopback port of that endpoint; 0 picks
	// a free one (the daemon writes it to mcp.addr).
	SettingMCPServerPort = "mcp_server_port"
)

// knownSettings is every setting users may change, by key. Internal
// bookkeeping kept in the same table (the daemon's set of desired
// forwards) is not among them.
var knownSettings = []Setting{
	{Key: SettingHTTPLogsDefaultEnabled, Kind: SettingBool, Default: "false",
		Help: "log the HTTP traffic of forwards whose config does not say (http_logs_enabled)"},
	{Key: SettingHTTPLogsMaxTotalSize, Kind: SettingInt, Default: "1073741824", Min: 1 << 20, Max: 1 << 40,
		Help: "bytes all HTTP log files may take together; the oldest rotated files go first"},
	{Key: SettingNotificationsEnabled, Kind: SettingBool, Default: "true",
		Help: "desktop notifications from kftray tray when a forward fails or recovers after retrying"},
	{Key: SettingMCPServerEnabled, Kind: SettingBool, Default: "false",
		Help: "serve MCP (Streamable HTTP) on 127.0.0.1 behind the API token; its address is in mcp.addr"},
	{Key: SettingMCPServerPort, Kind: SettingInt, Default: "0", Min: 0, Max: 65535,
		Help: "loopback port of the MCP endpoint; 0 picks a free port"},
}

// KnownSettings returns every setting users may change, sorted by key.
func KnownSettings() []Setting {
	out := append([]Setting(nil), knownSettings...)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// SettingKeys returns the known keys, sorted.
func SettingKeys() []string {
	var keys []string
	for _, s := range KnownSettings() {
		keys = append(keys, s.Key)
	}
	return keys
}

// LookupSetting finds a known setting.
func LookupSetting(key string) (Setting, bool) {
	for _, s := range knownSettings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// SettingError is an unknown key or a value a setting does not accept.
type SettingError struct {
	Key string
	Msg string
}

func (e *SettingError) Error() string { return fmt.Sprintf("setting %q: %s", e.Key, e.Msg) }

// CheckSetting validates value for key and returns it in its one
// spelling ("true"/"false" for booleans, plain decimal for integers).
func CheckSetting(key, value string) (string, error) {
	s, ok := LookupSetting(key)
	if !ok {
		return "", &SettingError{Key: key, Msg: "unknown setting; the known settings are " + strings.Join(SettingKeys(), ", ")}
	}
	v := strings.TrimSpace(value)
	switch s.Kind {
	case SettingBool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", &SettingError{Key: key, Msg: fmt.Sprintf("%q is not true or false", value)}
		}
		return strconv.FormatBool(b), nil
	case SettingInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < s.Min || n > s.Max {
			return "", &SettingError{Key: key, Msg: fmt.Sprintf("%q is not a whole number in %d..%d", value, s.Min, s.Max)}
		}
		return strconv.FormatInt(n, 10), nil
	}
	return v, nil
}
