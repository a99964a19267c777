//go:build !kftui_apiext

package tui

import "github.com/kftray-go/kftray/localapi"

// ClientBackend is the Backend kftui uses for a daemon client. This
// daemon API has none of the newer endpoints (extras.go).
func ClientBackend(c *localapi.Client) Backend { return c }

// SettingHelp says what a known setting does.
func SettingHelp(string) string { return "" }
