package install

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mkdirSafe creates dir (root-owned 0755) if needed and checks that nobody
// but root can change what lands in it: the installed binary runs as root,
// and the config decides who gets root's help.
func mkdirSafe(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return checkInstallDir(dir)
}

// checkInstallDir refuses dir unless it and every ancestor, along the path
// as written and along its resolved path, are owned by root (or by the
// installing uid, for unprivileged test installs) and writable by no one
// else. An ancestor may be sticky and world-writable (like /tmp): nobody
// can rename root's entries there. The target itself may not: others could
// still create names in it.
func checkInstallDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("install directory %s: %w", dir, err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("install directory %s: %w", dir, err)
	}
	for _, p := range []string{abs, resolved} {
		if err := checkChain(dir, p); err != nil {
			return err
		}
	}
	return nil
}

func checkChain(target, p string) error {
	euid := uint32(os.Geteuid())
	for first := true; ; first = false {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("install directory %s: %w", target, err)
		}
		kind := st.Mode & unix.S_IFMT
		ownerOK := st.Uid == 0 || st.Uid == euid
		writable := st.Mode&0o022 != 0
		sticky := st.Mode&unix.S_ISVTX != 0
		switch {
		case first && kind != unix.S_IFDIR && kind != unix.S_IFLNK:
			return fmt.Errorf("refusing to install into %s: it is not a directory", target)
		case !ownerOK:
			return fmt.Errorf("refusing to install into %s: %s is owned by uid %d, not root; another user could swap what root installs and runs there (chown root:root it, or install elsewhere)", target, p, st.Uid)
		case kind == unix.S_IFDIR && writable && (first || !sticky):
			return fmt.Errorf("refusing to install into %s: %s is writable by group or others (mode %o); another user could swap what root installs and runs there (chmod go-w it, or install elsewhere)", target, p, st.Mode&0o7777)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}
