package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kftray-go/kftray/localapi"
)

// StopRunning asks the daemon for dir to stop and waits (bounded by wait)
// until it has released its lock. It reports false when none was running.
func StopRunning(ctx context.Context, dir string, wait time.Duration) (bool, error) {
	p := localapi.PathsIn(dir)
	c := localapi.NewUnixClient(p.Socket)
	defer c.Close()
	st, err := c.Status(ctx)
	if errors.Is(err, localapi.ErrNotRunning) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := c.Shutdown(ctx); err != nil {
		return true, err
	}
	end := time.Now().Add(wait)
	for {
		if !lockHeld(p) {
			return true, nil
		}
		if time.Now().After(end) {
			return true, fmt.Errorf("the kftray daemon (pid %d) is still stopping after %s; see its log %s", st.PID, wait, p.Log)
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lockHeld reports whether a daemon holds the lock for p.
func lockHeld(p localapi.Paths) bool {
	l, err := acquireLock(p)
	if err != nil {
		return errors.Is(err, ErrRunning)
	}
	l.release()
	return false
}
