package session

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// checkSocketDir checks the directory go-plugin will create the session
// socket in: a root-made directory nobody else can write, so no path in it
// that we create, chown or chmod can be swapped for a link.
func checkSocketDir(dir string) error {
	if dir == "" || !filepath.IsAbs(dir) {
		return fmt.Errorf("kftray-helper plugin: the session socket directory %q must be an absolute path set by the launcher", dir)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		var st unix.Stat_t
		if err := unix.Lstat(d, &st); err != nil {
			return fmt.Errorf("kftray-helper plugin: session socket directory: %w", err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
			return fmt.Errorf("kftray-helper plugin: %s must be a directory owned by uid %d and not group/world-writable", d, os.Geteuid())
		}
	}
	return nil
}

// guardHandshake stands in for stdout while go-plugin prints its handshake
// line, and passes the line on to the forwarder only after the session
// socket it names belongs to the session's uid alone (owner uid, 0600).
// Without this go-plugin leaves the socket root's (unreachable) or, with
// PLUGIN_UNIX_SOCKET_GROUP, makes it 0660 for the peer's whole primary
// group (e.g. staff on macOS). The forwarder cannot connect before it has
// the line, so there is no window with wider access. If anything is wrong
// the line is never passed on and fail is called.
func guardHandshake(uid uint32, dir string, fail func(error)) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("kftray-helper plugin: %w", err)
	}
	out := os.Stdout
	os.Stdout = w // go-plugin prints its line with fmt.Printf, then replaces os.Stdout
	go func() {
		br := bufio.NewReader(io.LimitReader(r, 64<<10))
		line, err := br.ReadString('\n')
		if err == nil {
			err = claimSocket(line, uid, dir)
		}
		if err != nil {
			fail(err)
			return
		}
		if _, err := io.WriteString(out, line); err != nil {
			fail(err)
			return
		}
		_, _ = io.Copy(out, br) // nothing else is written here in practice
	}()
	return nil
}

// claimSocket gives the unix socket of go-plugin's handshake line
// (CORE|APP|NETWORK|ADDR|PROTO|SERVERCERT[|MUX]) to uid, mode 0600.
func claimSocket(line string, uid uint32, dir string) error {
	f := strings.Split(strings.TrimSpace(line), "|")
	if len(f) < 6 {
		return fmt.Errorf("kftray-helper plugin: unexpected go-plugin handshake %q", line)
	}
	network, addr, serverCert := f[2], f[3], f[5]
	if network != "unix" || filepath.Dir(addr) != filepath.Clean(dir) {
		return fmt.Errorf("kftray-helper plugin: go-plugin listens on %s %s, want a unix socket in %s", network, addr, dir)
	}
	if serverCert == "" {
		return errors.New("kftray-helper plugin: go-plugin did not set up mutual TLS; refusing to serve the session in plaintext")
	}
	var st unix.Stat_t
	if err := unix.Lstat(addr, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("kftray-helper plugin: %s is not the session socket: %v", addr, err)
	}
	// The directory is ours alone (checkSocketDir): the name cannot change
	// between the Lstat and these calls.
	// chmod while still root's (no CAP_FOWNER needed), then give it away.
	if err := unix.Fchmodat(unix.AT_FDCWD, addr, 0o600, 0); err != nil {
		return fmt.Errorf("kftray-helper plugin: chmod session socket %s: %w", addr, err)
	}
	if err := unix.Fchownat(unix.AT_FDCWD, addr, int(uid), -1, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("kftray-helper plugin: chown session socket %s: %w", addr, err)
	}
	return nil
}
