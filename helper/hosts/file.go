package hosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/helper/internal/flock"
)

// File is one hosts file under kftray's management.
type File struct {
	Path     string // e.g. /etc/hosts
	LockPath string // flock target, e.g. /run/kftray-helper/hosts.lock
	Policy   Policy
	// Flush, if set, runs after a change (DNS cache flush). Errors are the
	// caller's to log; the file is already written.
	Flush func(ctx context.Context) error

	// rename is os.Rename; tests swap it to simulate a bind-mounted file.
	rename func(oldpath, newpath string) error
	// beforeReplace runs just before the changed-underneath check (tests).
	beforeReplace func()
}

// errChanged means someone outside kftray (an editor, another tool) wrote
// the file between our read and our write; update starts over so their
// change is kept.
var errChanged = errors.New("hosts file changed while being updated")

const maxAttempts = 5

// Set replaces the lines of one lease of one session with entries.
// An empty entries removes the lease.
func (f *File) Set(ctx context.Context, uid uint32, session, lease string, entries []Entry) error {
	return f.update(ctx, func(d *document) error { return d.set(f.Policy, uid, session, lease, entries) })
}

// RemoveSession drops every line of a session (its connection closed).
func (f *File) RemoveSession(ctx context.Context, uid uint32, session string) error {
	return f.update(ctx, func(d *document) error {
		d.filter(func(l Line) bool { return l.UID != uid || l.Session != session })
		return nil
	})
}

// Sweep drops every line keep does not approve (stale sessions).
func (f *File) Sweep(ctx context.Context, keep func(Line) bool) error {
	return f.update(ctx, func(d *document) error { d.filter(keep); return nil })
}

// List returns the managed lines.
func (f *File) List(ctx context.Context) ([]Line, error) {
	var lines []Line
	err := f.withLock(func() error {
		data, _, err := f.read()
		if err != nil {
			return err
		}
		d, err := split(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		lines = d.lines
		return nil
	})
	return lines, err
}

func (f *File) update(ctx context.Context, change func(*document) error) error {
	var err error
	for range maxAttempts {
		if err = f.updateOnce(ctx, change); !errors.Is(err, errChanged) {
			return err
		}
	}
	return fmt.Errorf("hosts: %s kept changing underneath (%d attempts); try again: %w", f.Path, maxAttempts, err)
}

func (f *File) updateOnce(ctx context.Context, change func(*document) error) error {
	changed := false
	err := f.withLock(func() error {
		data, st, err := f.read()
		if err != nil {
			return err
		}
		d, err := split(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		if err := change(d); err != nil {
			return err
		}
		out, err := d.render()
		if err != nil {
			return err
		}
		if string(out) == string(data) {
			return nil
		}
		changed = true
		return f.write(out, st)
	})
	if err == nil && changed && f.Flush != nil {
		_ = f.Flush(ctx) // best effort: entries are written; caches expire anyway
	}
	return err
}

// withLock serializes every writer, in any process, on an flock.
func (f *File) withLock(fn func() error) error {
	unlock, err := flock.Lock(f.LockPath)
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	defer unlock()
	return fn()
}

func (f *File) read() ([]byte, *unix.Stat_t, error) {
	fd, err := unix.Open(f.Path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, nil, fmt.Errorf("hosts: refusing to edit %s: it is a symbolic link; point the helper at the real file", f.Path)
		}
		return nil, nil, fmt.Errorf("hosts: open %s: %w", f.Path, err)
	}
	file := os.NewFile(uintptr(fd), f.Path)
	defer file.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, nil, fmt.Errorf("hosts: stat %s: %w", f.Path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, nil, fmt.Errorf("hosts: refusing to edit %s: not a regular file", f.Path)
	}
	data, err := io.ReadAll(io.LimitReader(file, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("hosts: read %s: %w", f.Path, err)
	}
	return data, &st, nil
}

// write replaces the file atomically (temp file with the original owner,
// mode and security label, fsync, rename, directory fsync). When rename
// cannot work, as on a bind-mounted /etc/hosts, it rewrites the same inode.
func (f *File) write(data []byte, st *unix.Stat_t) error {
	err := f.writeAtomic(data, st)
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EROFS) {
		if ierr := f.writeInPlace(data, st); ierr != nil {
			return fmt.Errorf("hosts: %v; in-place rewrite also failed: %w", err, ierr)
		}
		return nil
	}
	return err
}

func (f *File) writeAtomic(data []byte, st *unix.Stat_t) (err error) {
	dir := filepath.Dir(f.Path)
	tmp, err := os.CreateTemp(dir, ".hosts.kftray-*")
	if err != nil {
		return fmt.Errorf("hosts: create temp file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	tfd := int(tmp.Fd())
	if err := unix.Fchown(tfd, int(st.Uid), int(st.Gid)); err != nil && os.Geteuid() == 0 {
		return fmt.Errorf("hosts: chown temp file: %w", err)
	}
	if err := unix.Fchmod(tfd, uint32(st.Mode&0o7777)); err != nil {
		return fmt.Errorf("hosts: chmod temp file: %w", err)
	}
	copyLabel(f.Path, tfd)
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("hosts: write temp file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("hosts: fsync temp file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("hosts: close temp file: %w", err)
	}
	if err := f.unchanged(st); err != nil {
		return err
	}
	rename := f.rename
	if rename == nil {
		rename = os.Rename
	}
	if err := rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("hosts: replace %s: %w", f.Path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// unchanged checks the file is still the one read: same inode, size and
// modification time. Writers outside kftray do not take our lock.
func (f *File) unchanged(st *unix.Stat_t) error {
	if f.beforeReplace != nil {
		f.beforeReplace()
	}
	var now unix.Stat_t
	if err := unix.Lstat(f.Path, &now); err != nil {
		return fmt.Errorf("hosts: stat %s: %w", f.Path, err)
	}
	if now.Dev != st.Dev || now.Ino != st.Ino || now.Size != st.Size || !sameMtime(&now, st) {
		return fmt.Errorf("%s: %w", f.Path, errChanged)
	}
	return nil
}

func (f *File) writeInPlace(data []byte, st *unix.Stat_t) error {
	fd, err := unix.Open(f.Path, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s for writing: %w", f.Path, err)
	}
	file := os.NewFile(uintptr(fd), f.Path)
	defer file.Close()
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return err
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		return fmt.Errorf("%s: %w (replaced)", f.Path, errChanged)
	}
	if err := f.unchanged(st); err != nil {
		return err
	}
	if _, err := file.WriteAt(data, 0); err != nil {
		return fmt.Errorf("rewrite %s: %w", f.Path, err)
	}
	if err := file.Truncate(int64(len(data))); err != nil {
		return fmt.Errorf("truncate %s: %w", f.Path, err)
	}
	return file.Sync()
}
