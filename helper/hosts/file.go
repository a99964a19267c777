package hosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/helper/internal/flock"
	"github.com/kftray-go/kftray/internal/atomicfile"
)

// MaxSize is the largest hosts file the helper reads or writes. A larger
// file is refused as it is, never cut.
const MaxSize = 16 << 20

// File is one hosts file under kftray's management.
type File struct {
	Path     string // e.g. /etc/hosts
	LockPath string // flock target, e.g. /run/kftray-helper/hosts.lock; the journal lives beside it
	Policy   Policy
	// Flush, if set, runs after a change (DNS cache flush). Errors are the
	// caller's to log; the file is already written.
	Flush func(ctx context.Context) error
	// Gate, if set, is closed by a process about to exit: writes already
	// under the lock finish first, and no new one starts.
	Gate *Gate
	// Log receives what recovery and sweeping did; the zero value is silent.
	Log zerolog.Logger

	// rename is os.Rename; tests swap it to simulate a bind-mounted file.
	rename func(oldpath, newpath string) error
	// beforeReplace runs just before the changed-underneath check (tests).
	beforeReplace func()
	// afterJournal runs between the journal and the in-place rewrite; an
	// error stops there, as a kill would (tests).
	afterJournal func(fd int, data []byte) error
}

// errChanged means someone outside kftray (an editor, another tool) wrote
// the file between our read and our write; update starts over so their
// change is kept.
var errChanged = errors.New("hosts file changed while being updated")

const maxAttempts = 5

// legacyTempPrefix named the temporary files of helpers before atomicfile;
// Sweep removes leftovers of either name.
const legacyTempPrefix = ".hosts.kftray-"

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

// Sweep drops every line keep does not approve (stale sessions) and
// removes temporary files an interrupted atomic write left beside the file.
func (f *File) Sweep(ctx context.Context, keep func(Line) bool) error {
	// Under the lock: no writer of ours has a temporary file in flight.
	terr := f.withLock(f.sweepTemp)
	return errors.Join(f.update(ctx, func(d *document) error { d.filter(keep); return nil }), terr)
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
		if len(out) > MaxSize {
			return fmt.Errorf("%w: %s would grow to %d bytes, over the %d MiB the helper writes; remove names instead", ErrCap, f.Path, len(out), MaxSize>>20)
		}
		changed = true
		return f.write(out, data, st)
	})
	if err == nil && changed && f.Flush != nil {
		_ = f.Flush(ctx) // best effort: entries are written; caches expire anyway
	}
	return err
}

// withLock serializes every writer, in any process, on an flock, and
// finishes or undoes an in-place write a killed writer left (the journal)
// before anything reads the file. Nothing in fn waits for a client, so the
// lock is held for one read and one write at most.
func (f *File) withLock(fn func() error) error {
	unlock, err := flock.Lock(f.LockPath)
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	defer unlock()
	if f.Gate != nil {
		if !f.Gate.enter() {
			return ErrEnding
		}
		defer f.Gate.leave()
	}
	if err := f.recoverJournal(); err != nil {
		return err
	}
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
	if st.Size > MaxSize {
		return nil, nil, f.tooLarge(st.Size)
	}
	data, err := io.ReadAll(io.LimitReader(file, MaxSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("hosts: read %s: %w", f.Path, err)
	}
	if len(data) > MaxSize { // grew after the stat
		return nil, nil, f.tooLarge(int64(len(data)))
	}
	return data, &st, nil
}

func (f *File) tooLarge(size int64) error {
	return fmt.Errorf("%w: %s is %d bytes, over the %d MiB the helper edits; it is left alone: shrink it, then retry", ErrTooLarge, f.Path, size, MaxSize>>20)
}

// write replaces the file atomically (temp file with the original owner,
// mode and security label, fsync, rename, directory fsync). When rename
// cannot work, as on a bind-mounted /etc/hosts or a read-only /etc, it
// rewrites the same inode under a journal. old is the content read.
func (f *File) write(data, old []byte, st *unix.Stat_t) error {
	err := atomicfile.Write(f.Path, data, atomicfile.Options{
		Perm:         os.FileMode(st.Mode & 0o777),
		Owner:        &atomicfile.Owner{UID: int(st.Uid), GID: int(st.Gid)},
		Prepare:      func(tmp *os.File) error { copyLabel(f.Path, int(tmp.Fd())); return nil },
		BeforeRename: func() error { return f.unchanged(st) },
		Rename:       f.rename,
	})
	if err == nil || errors.Is(err, errChanged) {
		return err
	}
	if errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EROFS) {
		if ierr := f.writeInPlace(data, old, st); ierr != nil {
			if errors.Is(ierr, errChanged) {
				return ierr
			}
			return fmt.Errorf("hosts: replace %s: %v; in-place rewrite also failed: %w", f.Path, err, ierr)
		}
		return nil
	}
	return fmt.Errorf("hosts: replace %s: %w", f.Path, err)
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

// writeInPlace rewrites the inode read. Readers can see a partial file
// while it runs (nothing else is possible without rename); a kill cannot
// leave one, because the journal written first lets the next holder of
// the lock put the old content back.
func (f *File) writeInPlace(data, old []byte, st *unix.Stat_t) error {
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
	j := &journal{Path: f.Path, Dev: uint64(st.Dev), Ino: uint64(st.Ino), Old: old, New: data}
	if err := f.saveJournal(j); err != nil {
		return err
	}
	if f.afterJournal != nil {
		if err := f.afterJournal(fd, data); err != nil {
			return err
		}
	}
	if err := rewrite(file, data); err != nil {
		// Put the old content back now if we can; else the next lock does.
		if rerr := f.recoverJournal(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return f.dropJournal()
}

// rewrite makes file hold exactly data.
func rewrite(file *os.File, data []byte) error {
	if _, err := file.WriteAt(data, 0); err != nil {
		return fmt.Errorf("rewrite %s: %w", file.Name(), err)
	}
	if err := file.Truncate(int64(len(data))); err != nil {
		return fmt.Errorf("truncate %s: %w", file.Name(), err)
	}
	if err := file.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", file.Name(), err)
	}
	return nil
}

// sweepTemp removes the temporary files of our atomic writes that a kill
// left beside the hosts file: regular files with our names, owned by us.
// A read-only directory (systemd's /etc) cannot hold new ones; old ones
// there stay, logged.
func (f *File) sweepTemp() error {
	dir := filepath.Dir(f.Path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("hosts: list %s for temporary files: %w", dir, err)
	}
	prefix := atomicfile.TempPrefix(f.Path)
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) && !strings.HasPrefix(name, legacyTempPrefix) {
			continue
		}
		p := filepath.Join(dir, name)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() {
			continue
		}
		if err := os.Remove(p); err != nil {
			if errors.Is(err, syscall.EROFS) {
				f.Log.Warn().Str("file", p).Msg("stale temporary hosts file in a read-only directory; remove it by hand")
				continue
			}
			errs = append(errs, fmt.Errorf("hosts: remove stale temporary file: %w", err))
			continue
		}
		f.Log.Info().Str("file", p).Msg("removed a temporary hosts file an interrupted write left")
	}
	return errors.Join(errs...)
}
