// Package daemon is the per-user kftray daemon: one per user (a lock in
// the config directory), it owns every running forward, keeps their state
// in the store, serves the local API and restores the forwards that should
// run when it starts. The CLI starts it on demand (Ensure).
package daemon

import (
	"errors"
	"fmt"
	"os"

	"github.com/kftray-go/kftray/internal/atomicfile"
	"github.com/kftray-go/kftray/localapi"
	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest unix socket path every platform accepts
// (sun_path is 108 bytes on Linux, 104 on macOS, including the NUL).
const maxSocketPath = 103

// ErrRunning means another daemon holds the lock.
var ErrRunning = errors.New("a kftray daemon is already running")

// lock is the single-instance lock: an flock on daemon.lock. The kernel
// drops it when the process dies, so a crashed daemon never blocks the
// next one.
type lock struct{ f *os.File }

func acquireLock(p localapi.Paths) (*lock, error) {
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
	return atomicfile.WriteFile(name, data, 0o600)
}
