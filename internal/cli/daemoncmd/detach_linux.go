package daemoncmd

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropControllingTerminal gives up the terminal the starter ran in. The
// daemon is not a session leader (the CLI starts it without setsid, see
// localapi's detachAttr), so TIOCNOTTY only clears its own controlling
// terminal: the terminal's hangup and job control no longer concern it,
// and nothing else in the session is touched. No terminal: nothing to do.
func dropControllingTerminal() {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	defer tty.Close()
	_ = unix.IoctlSetInt(int(tty.Fd()), unix.TIOCNOTTY, 0)
}
