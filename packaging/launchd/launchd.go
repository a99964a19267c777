// Package launchd carries the helper's LaunchDaemon plist.
package launchd

import _ "embed"

// Label is the daemon's launchd label; the plist is installed as
// /Library/LaunchDaemons/<Label>.plist.
const Label = "dev.kftray.helper"

//go:embed dev.kftray.helper.plist
var Plist []byte
