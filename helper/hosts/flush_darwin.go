package hosts

import (
	"context"
	"errors"
	"os/exec"
	"time"
)

// FlushDNS flushes the directory service cache and mDNSResponder, by
// absolute path.
func FlushDNS(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e1 := exec.CommandContext(ctx, "/usr/bin/dscacheutil", "-flushcache").Run()
	e2 := exec.CommandContext(ctx, "/usr/bin/killall", "-HUP", "mDNSResponder").Run()
	return errors.Join(e1, e2)
}
