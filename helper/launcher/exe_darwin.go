package launcher

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// selfExec resolves our own binary once, at start. macOS has no
// /proc/self/exe and no fexecve, so before each launch the path must still
// name the same file (device and inode) as at start; a replaced binary is
// refused until the service restarts. The install directory is root-owned
// and not writable by others (install checks), so only root can replace it.
func selfExec() (execPath, error) {
	exe, err := os.Executable()
	if err != nil {
		return execPath{}, err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return execPath{}, err
	}
	var st unix.Stat_t
	if err := unix.Stat(exe, &st); err != nil {
		return execPath{}, err
	}
	dev, ino := st.Dev, st.Ino
	check := func() error {
		var now unix.Stat_t
		if err := unix.Stat(exe, &now); err != nil || now.Dev != dev || now.Ino != ino {
			return fmt.Errorf("the helper binary %s was replaced since the service started; restart the service (`sudo kftray helper install` does)", exe)
		}
		return nil
	}
	return execPath{path: exe, argv0: exe, check: check}, nil
}
