// Package systemd carries the helper's systemd units, so install writes
// exactly the files kept here.
package systemd

import _ "embed"

// Unit names.
const (
	SocketUnit  = "kftray-helper.socket"
	ServiceUnit = "kftray-helper.service"
)

//go:embed kftray-helper.socket
var Socket []byte

//go:embed kftray-helper.service
var Service []byte
