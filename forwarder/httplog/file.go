package httplog

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DirName is the HTTP logs' directory under the config directory.
const DirName = "http_logs"

// rotatedStamp is the time in a rotated file's name.
const rotatedStamp = "20060102T150405.000000000"

// fileName matches current (12_8080.http) and rotated
// (12_8080.20260102T150405.000000000.http) log files.
var fileName = regexp.MustCompile(`^(\d+)_(\d+)(\.\d{8}T\d{6}\.\d{9})?\.http$`)

// FileName is a forward's current log file name.
func FileName(configID int64, localPort int) string {
	return fmt.Sprintf("%d_%d.http", configID, localPort)
}

// FlushDelay bounds how long an entry waits in memory before it is
// written: entries are buffered so a busy forward costs one write per
// batch, not one per exchange.
const FlushDelay = 100 * time.Millisecond

// File is a forward's .http file: appended to, rotated to a timestamped
// file when the next entry would pass MaxSize. The directory is 0700 and
// the files 0600: they hold requests and responses.
type File struct {
	dir, name string
	maxSize   int64
	now       func() time.Time

	mu    sync.Mutex
	f     *os.File
	bw    *bufio.Writer
	size  int64 // with what is buffered
	flush *time.Timer
	err   error // of the last background flush
}

// NewFile returns the writer of dir/<configID>_<localPort>.http; nothing
// is created before the first write.
func NewFile(dir string, configID int64, localPort int, maxSize int64) *File {
	return &File{dir: dir, name: FileName(configID, localPort), maxSize: maxSize, now: time.Now}
}

// Path is the current file's path.
func (w *File) Path() string { return filepath.Join(w.dir, w.name) }

// SetMaxSize changes the rotation size.
func (w *File) SetMaxSize(n int64) {
	w.mu.Lock()
	w.maxSize = n
	w.mu.Unlock()
}

// Write appends one entry, rotating first when it would pass the size.
func (w *File) Write(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(b)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	if err := w.err; err != nil {
		w.err = nil
		return err
	}
	n, err := w.bw.Write(b)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("writing %s: %w", w.Path(), err)
	}
	if w.flush == nil {
		w.flush = time.AfterFunc(FlushDelay, w.flushLater)
	}
	return nil
}

func (w *File) flushLater() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flush = nil
	if err := w.flushLocked(); err != nil {
		w.err = err
	}
}

// Flush writes what is buffered.
func (w *File) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *File) flushLocked() error {
	if w.bw == nil {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", w.Path(), err)
	}
	return nil
}

func (w *File) open() error {
	if err := EnsureDir(w.dir); err != nil {
		return err
	}
	f, err := os.OpenFile(w.Path(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening the HTTP log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening the HTTP log: %w", err)
	}
	// A file created by an older umask or by hand is tightened.
	if st.Mode().Perm() != 0o600 {
		_ = f.Chmod(0o600)
	}
	w.f, w.size = f, st.Size()
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, 64<<10)
	} else {
		w.bw.Reset(f)
	}
	return nil
}

func (w *File) rotate() error {
	if err := w.flushLocked(); err != nil {
		return err
	}
	w.f.Close()
	w.f = nil
	base := strings.TrimSuffix(w.name, ".http")
	to := filepath.Join(w.dir, base+"."+w.now().UTC().Format(rotatedStamp)+".http")
	if err := os.Rename(w.Path(), to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotating the HTTP log: %w", err)
	}
	return w.open()
}

// Release closes the file; the next write reopens it. The sweep releases
// files before removing old ones, so no write goes to a removed file.
func (w *File) Release() { _ = w.Close() }

// Close writes what is buffered and closes the file; a later Write
// reopens it.
func (w *File) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flush != nil {
		w.flush.Stop()
		w.flush = nil
	}
	if w.f == nil {
		return nil
	}
	err := w.flushLocked()
	w.f.Close()
	w.f = nil
	return err
}

// EnsureDir creates dir 0700 (tightening an existing one).
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the HTTP log directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("creating the HTTP log directory: %w", err)
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restricting %s to its owner: %w", dir, err)
		}
	}
	return nil
}

// LogFile is one .http file in the directory.
type LogFile struct {
	Path     string
	ConfigID int64
	Port     int
	Rotated  bool
	Size     int64
	ModTime  time.Time
}

// ListFiles lists the .http files in dir (none when it does not exist).
func ListFiles(dir string) ([]LogFile, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []LogFile
	for _, de := range ents {
		m := fileName.FindStringSubmatch(de.Name())
		if m == nil || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		id, _ := strconv.ParseInt(m[1], 10, 64)
		port, _ := strconv.Atoi(m[2])
		out = append(out, LogFile{Path: filepath.Join(dir, de.Name()), ConfigID: id, Port: port, Rotated: m[3] != "",
			Size: info.Size(), ModTime: info.ModTime()})
	}
	return out, nil
}

// Retention is a config's cleanup policy.
type Retention struct {
	Days        int
	AutoCleanup bool
}

// Sweep enforces retention and the total size: with auto cleanup, files
// last written more than their config's retention days ago are removed;
// then, while the directory holds more than totalMax bytes, rotated files
// are removed oldest first (current files are kept: size rotation bounds
// each). policy gives each config's retention (for configs that no longer
// exist too). It returns what it removed.
func Sweep(dir string, now time.Time, policy func(configID int64) Retention, totalMax int64) ([]LogFile, error) {
	files, err := ListFiles(dir)
	if err != nil {
		return nil, err
	}
	var removed []LogFile
	var kept []LogFile
	var errs []error
	for _, f := range files {
		p := policy(f.ConfigID)
		if p.AutoCleanup && p.Days > 0 && now.Sub(f.ModTime) > time.Duration(p.Days)*24*time.Hour {
			ok, err := removeIfUnchanged(f)
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				removed = append(removed, f)
				continue
			}
		}
		kept = append(kept, f)
	}
	if totalMax > 0 {
		var total int64
		for _, f := range kept {
			total += f.Size
		}
		sort.Slice(kept, func(i, j int) bool { return kept[i].ModTime.Before(kept[j].ModTime) })
		for _, f := range kept {
			if total <= totalMax {
				break
			}
			if !f.Rotated {
				continue
			}
			ok, err := removeIfUnchanged(f)
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				total -= f.Size
				removed = append(removed, f)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// removeIfUnchanged removes f unless it was written since it was listed.
func removeIfUnchanged(f LogFile) (bool, error) {
	st, err := os.Stat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !st.ModTime().Equal(f.ModTime) || st.Size() != f.Size {
		return false, nil
	}
	if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// Purge removes the .http files of configID (all configs when 0).
func Purge(dir string, configID int64) (files int, bytes int64, err error) {
	list, err := ListFiles(dir)
	if err != nil {
		return 0, 0, err
	}
	var errs []error
	for _, f := range list {
		if configID != 0 && f.ConfigID != configID {
			continue
		}
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		files++
		bytes += f.Size
	}
	return files, bytes, errors.Join(errs...)
}
