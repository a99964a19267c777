// Package peercred reads the kernel's record of who is on the other end of a
// unix socket. It is the only identity the helper trusts.
package peercred

import (
	"fmt"
	"net"
)

// Cred is the peer's identity as the kernel saw it at connect time.
type Cred struct {
	UID uint32
	GID uint32
	PID int32 // 0 where the platform does not report it
}

// Get returns the credentials of the process on the other end of c.
func Get(c *net.UnixConn) (Cred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peercred: %w", err)
	}
	var cred Cred
	var gerr error
	if err := rc.Control(func(fd uintptr) { cred, gerr = get(int(fd)) }); err != nil {
		return Cred{}, fmt.Errorf("peercred: %w", err)
	}
	if gerr != nil {
		return Cred{}, fmt.Errorf("peercred: read peer credentials: %w", gerr)
	}
	return cred, nil
}
