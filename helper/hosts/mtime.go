package hosts

import "golang.org/x/sys/unix"

func sameMtime(a, b *unix.Stat_t) bool { return a.Mtim == b.Mtim }
