//go:build !linux

package daemoncmd

// dropControllingTerminal: outside Linux the CLI starts the daemon in a
// session of its own (setsid), which has no controlling terminal.
func dropControllingTerminal() {}
