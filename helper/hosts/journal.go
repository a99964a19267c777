package hosts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/internal/atomicfile"
)

// journal records an in-place rewrite before it starts: which inode, what
// it held and what it is about to hold. It is written (atomically, synced)
// to the root-owned run directory, and removed once the rewrite is synced.
// Whoever takes the lock next and finds it knows a writer died mid-write.
type journal struct {
	Version int    `json:"version"`
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Old     []byte `json:"old"`
	New     []byte `json:"new"`
}

const journalVersion = 1

// maxJournal bounds what is read back: two files of MaxSize, base64.
const maxJournal = 4*MaxSize + 1<<20

// journalPath is beside the lock, in the root-owned run directory.
func (f *File) journalPath() string {
	return filepath.Join(filepath.Dir(f.LockPath), "hosts.journal")
}

func (f *File) saveJournal(j *journal) error {
	j.Version = journalVersion
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("hosts: journal: %w", err)
	}
	if err := atomicfile.WriteFile(f.journalPath(), b, 0o600); err != nil {
		return fmt.Errorf("hosts: write journal before rewriting %s in place: %w", f.Path, err)
	}
	return nil
}

func (f *File) dropJournal() error {
	if err := os.Remove(f.journalPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("hosts: remove journal: %w", err)
	}
	return nil
}

// loadJournal returns nil when there is none. A journal that is not a
// regular file of ours is refused: it decides what goes into the hosts
// file.
func (f *File) loadJournal() (*journal, error) {
	p := f.journalPath()
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hosts: open journal %s: %w", p, err)
	}
	file := os.NewFile(uintptr(fd), p)
	defer file.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("hosts: stat journal %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return nil, fmt.Errorf("hosts: journal %s is not a regular file owned by uid %d and writable only by it; remove it by hand", p, os.Geteuid())
	}
	b, err := io.ReadAll(io.LimitReader(file, maxJournal))
	if err != nil {
		return nil, fmt.Errorf("hosts: read journal %s: %w", p, err)
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil || j.Version != journalVersion {
		// Written atomically, so never half written: this is not ours.
		return nil, fmt.Errorf("hosts: journal %s is unreadable (%v); remove it by hand after checking %s", p, err, f.Path)
	}
	return &j, nil
}

// recoverJournal finishes what a writer killed during an in-place rewrite
// left: the file holds the old content, the new content, or a mix of the
// two (a write cut short, or the write done but not the truncate). A mix
// gets the old content back: the call that wrote it never reported
// success. Anything else means someone outside kftray wrote the file since;
// theirs is kept. Runs under the lock.
func (f *File) recoverJournal() error {
	j, err := f.loadJournal()
	if err != nil || j == nil {
		return err
	}
	if j.Path != f.Path {
		return nil // another hosts file's (a test's); its own writer replays it
	}
	fd, err := unix.Open(f.Path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("hosts: recover an interrupted write of %s: %w", f.Path, err)
	}
	file := os.NewFile(uintptr(fd), f.Path)
	defer file.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("hosts: stat %s: %w", f.Path, err)
	}
	log := f.Log.With().Str("hosts", f.Path).Logger()
	if uint64(st.Dev) != j.Dev || uint64(st.Ino) != j.Ino || st.Mode&unix.S_IFMT != unix.S_IFREG {
		log.Warn().Msg("hosts file replaced since an interrupted write; journal dropped")
		return f.dropJournal()
	}
	if st.Size > int64(max(len(j.Old), len(j.New))) {
		log.Warn().Int64("size", st.Size).Msg("hosts file changed since an interrupted write; journal dropped, file left as it is")
		return f.dropJournal()
	}
	cur, err := io.ReadAll(io.LimitReader(file, MaxSize+1))
	if err != nil {
		return fmt.Errorf("hosts: read %s: %w", f.Path, err)
	}
	switch {
	case bytes.Equal(cur, j.Old), bytes.Equal(cur, j.New):
		log.Warn().Msg("hosts: an interrupted in-place write left the file whole")
	case mixOf(cur, j.Old, j.New):
		if err := rewrite(file, j.Old); err != nil {
			return fmt.Errorf("hosts: put back %s after an interrupted write (the journal %s stays for the next try): %w", f.Path, f.journalPath(), err)
		}
		log.Warn().Int("size", len(cur)).Msg("hosts: rolled back an interrupted in-place write")
	default:
		log.Warn().Msg("hosts file changed since an interrupted write; journal dropped, file left as it is")
	}
	return f.dropJournal()
}

// mixOf reports whether cur is what an interrupted rewrite of old by new
// (or of such a mix by old) can leave: its length between theirs, and
// every byte the old or the new one at its offset.
func mixOf(cur, old, new []byte) bool {
	if len(cur) < min(len(old), len(new)) || len(cur) > max(len(old), len(new)) {
		return false
	}
	for i, c := range cur {
		if !(i < len(old) && c == old[i]) && !(i < len(new) && c == new[i]) {
			return false
		}
	}
	return true
}
