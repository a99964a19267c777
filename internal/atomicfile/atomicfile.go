// Package atomicfile replaces files so that a reader sees either the old
// content or the new one, never a mix, and a crash leaves at most a stray
// temporary file beside the target (named with TempPrefix, so callers can
// sweep them).
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of every temporary file WriteFile creates, in
// the target's directory: ".<base>.atomic-".
func TempPrefix(path string) string { return "." + filepath.Base(path) + ".atomic-" }

// WriteFile writes data to a new temporary file in path's directory (a
// unique name per call, created O_EXCL), sets perm (not filtered by the
// umask), fsyncs it, renames it over path and fsyncs the directory.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, data, Options{Perm: perm})
}

// Owner is a file's uid and gid.
type Owner struct{ UID, GID int }

// Options are Write's, for replacements that must keep more of the file
// they replace than its mode.
type Options struct {
	Perm os.FileMode // set on the temporary file, not filtered by the umask
	// Owner, if set, is given to the temporary file before anything is
	// written to it (and before Perm, which a chown could clear bits of).
	Owner *Owner
	// Prepare, if set, runs on the temporary file before data is written
	// (to copy a security label, say); its error aborts the write.
	Prepare func(*os.File) error
	// BeforeRename, if set, runs once the data is synced, just before the
	// rename; its error aborts the write (a caller checking the target did
	// not change underneath, say) and is returned as is.
	BeforeRename func() error
	// Rename replaces path with the temporary file; default os.Rename.
	Rename func(oldpath, newpath string) error
}

// Write is WriteFile with Options. Whatever fails, the temporary file is
// removed; errors wrap the system call's, so errors.Is(err, syscall.EROFS)
// and the like work.
func Write(path string, data []byte, o Options) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix(path)+"*")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if o.Owner != nil {
		if err = f.Chown(o.Owner.UID, o.Owner.GID); err != nil {
			return fmt.Errorf("atomicfile: %w", err)
		}
	}
	if err = f.Chmod(o.Perm); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if o.Prepare != nil {
		if err = o.Prepare(f); err != nil {
			return fmt.Errorf("atomicfile: preparing %s: %w", tmp, err)
		}
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("atomicfile: syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if o.BeforeRename != nil {
		if err = o.BeforeRename(); err != nil {
			return err
		}
	}
	rename := o.Rename
	if rename == nil {
		rename = os.Rename
	}
	if err = rename(tmp, path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: syncing directory %s: %w", dir, err)
	}
	return nil
}
