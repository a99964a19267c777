// Package daemon is the per-user kftray daemon: one per user (a lock in
// the config directory), it owns every running forward, keeps their state
// in the store, serves the local API and restores the forwards that should
// run when it starts. The CLI starts it on demand (Ensure).
package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Files the daemon keeps in the config directory.
const (
	SocketName = "kftray.sock" // the API, mode 0600
	LockName   = "daemon.lock" // flock held while a daemon runs
	PIDName    = "daemon.pid"
	TokenName  = "api.token" // bearer token for the TCP API, mode 0600
	AddrName   = "api.addr"  // host:port of the TCP API
	LogName    = "daemon.log"
)

// Paths are the daemon's files in one config directory.
type Paths struct {
	Dir, Socket, Lock, PID, Token, Addr, Log string
}

// PathsIn returns the daemon's files in dir.
func PathsIn(dir string) Paths {
	j := func(n string) string { return filepath.Join(dir, n) }
	return Paths{Dir: dir, Socket: j(SocketName), Lock: j(LockName), PID: j(PIDName),
		Token: j(TokenName), Addr: j(AddrName), Log: j(LogName)}
}

// ReadPID returns the pid recorded by the last daemon, 0 if none.
func (p Paths) ReadPID() int {
	b, err := os.ReadFile(p.PID)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// ReadHTTP returns the TCP API's address and token, for browsers and
// other clients that cannot use the unix socket.
func (p Paths) ReadHTTP() (addr, token string, err error) {
	a, err := os.ReadFile(p.Addr)
	if err != nil {
		return "", "", fmt.Errorf("the daemon's HTTP address: %w (is the daemon running with its HTTP API on?)", err)
	}
	t, err := os.ReadFile(p.Token)
	if err != nil {
		return "", "", fmt.Errorf("the daemon's API token: %w", err)
	}
	return strings.TrimSpace(string(a)), strings.TrimSpace(string(t)), nil
}

// maxSocketPath is the longest unix socket path every platform accepts
// (sun_path is 108 bytes on Linux, 104 on macOS, including the NUL).
const maxSocketPath = 103

// ErrRunning means another daemon holds the lock.
var ErrRunning = errors.New("a kftray daemon is already running")

// lock is the single-instance lock: an flock on daemon.lock. The kernel
// drops it when the process dies, so a crashed daemon never blocks the
// next one.
type lock struct{ f *os.File }

func acquireLock(p Paths) (*lock, error) {
	f, err := os.OpenFile(p.Lock, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the daemon lock %s: %w", p.Lock, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			if pid := p.ReadPID(); pid > 0 {
				return nil, fmt.Errorf("%w (pid %d, config directory %s); stop it with 'kftray daemon stop'", ErrRunning, pid, p.Dir)
			}
			return nil, fmt.Errorf("%w (config directory %s); stop it with 'kftray daemon stop'", ErrRunning, p.Dir)
		}
		return nil, fmt.Errorf("locking %s: %w", p.Lock, err)
	}
	return &lock{f: f}, nil
}

func (l *lock) release() {
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}

// writeFile0600 replaces name with data, readable by the owner only.
func writeFile0600(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // an existing tmp keeps its mode
		return err
	}
	return os.Rename(tmp, name)
}
