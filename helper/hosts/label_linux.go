package hosts

import "golang.org/x/sys/unix"

// copyLabel carries the SELinux label of the original file to the
// replacement, so confined resolvers can still read it. Absent labels or
// filesystems without xattrs are fine.
func copyLabel(path string, dst int) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, "security.selinux", buf)
	if err != nil || n <= 0 {
		return
	}
	_ = unix.Fsetxattr(dst, "security.selinux", buf[:n], 0)
}
