package hosts

import (
	"context"
	"os"
	"os/exec"
	"time"
)

// FlushDNS asks systemd-resolved to drop cached answers, by absolute path.
// Without resolved there is no system cache to flush.
func FlushDNS(ctx context.Context) error {
	const resolvectl = "/usr/bin/resolvectl"
	if _, err := os.Stat(resolvectl); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, resolvectl, "flush-caches").Run()
}
