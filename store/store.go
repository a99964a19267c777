package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the database file inside the config directory (kftray's name).
const FileName = "configs.db"

// busyTimeout is how long SQLite itself waits for another process's write
// lock before giving up; withTx retries beyond that until ctx ends.
const busyTimeout = 10 * time.Second

// Store is the open database. It is safe for concurrent use, and several
// processes may open the same file.
type Store struct {
	db   *sql.DB
	path string
}

// Open opens (creating if needed) dir/configs.db and brings its schema up to
// date. It never recreates or truncates an existing file: a foreign file, a
// newer schema or a directory it cannot write is an error naming the file.
func Open(ctx context.Context, dir string) (*Store, error) {
	return openAt(ctx, dir, SchemaVersion)
}

// openAt opens at a given schema version; tests use it to build old files.
func openAt(ctx context.Context, dir string, version int) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: no config directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the kftray config directory: %w; create it or choose another with --config-dir or KFTRAY_CONFIG", err)
	}
	path := filepath.Join(dir, FileName)
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; move it aside or choose another config directory (--config-dir or KFTRAY_CONFIG)", path)
	}

	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	// WAL with synchronous=NORMAL is durable across crashes of the process;
	// only a power loss can drop the last commits, never corrupt the file.
	q.Add("_pragma", "synchronous(NORMAL)")
	// Write transactions take the write lock at BEGIN, so two processes
	// never deadlock upgrading read locks (which SQLite reports as BUSY
	// without waiting).
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db, path: path}
	if err := s.init(ctx, version); err != nil {
		db.Close()
		return nil, s.explain(err)
	}
	return s, nil
}

func (s *Store) init(ctx context.Context, version int) error {
	// Reading the header first tells a foreign file apart before anything
	// writes to it.
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return &NewerSchemaError{Path: s.path, Have: v, Know: len(migrations)}
	}
	if v == 0 {
		if app, err := isKftrayAppDB(ctx, s.db); err != nil {
			return err
		} else if app {
			return &KftrayAppDBError{Path: s.path}
		}
	}
	if err := s.retry(ctx, func() error {
		var mode string
		return s.db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
	}); err != nil {
		return fmt.Errorf("enabling WAL: %w", err)
	}
	if v == version {
		return nil // up to date: no write lock needed
	}
	return s.migrate(ctx, version)
}

// explain turns SQLite's open-time failures into errors that say which file
// and what to do.
func (s *Store) explain(err error) error {
	var nse *NewerSchemaError
	var app *KftrayAppDBError
	if errors.As(err, &nse) || errors.As(err, &app) {
		return err
	}
	switch sqliteCode(err) {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%s is not a kftray database (%v). kftray leaves it untouched: move it aside "+
			"(mv %s %s.bak) or choose another config directory (--config-dir or KFTRAY_CONFIG)", s.path, err, s.path, s.path)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH:
		return fmt.Errorf("cannot open %s for writing (%v). kftray needs to write the file and its -wal and -shm "+
			"files in %s: fix the permissions, or choose another config directory (--config-dir or KFTRAY_CONFIG)",
			s.path, err, filepath.Dir(s.path))
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("cannot open %s: %w; fix the permissions of %s or choose another config directory", s.path, err, filepath.Dir(s.path))
	}
	return fmt.Errorf("opening %s: %w", s.path, err)
}

func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

func isBusy(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// retry runs f again while SQLite reports the database busy beyond its own
// busy timeout (a heavily loaded machine), until ctx ends. Users never see
// "database is locked" unless ctx gives up first.
func (s *Store) retry(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !isBusy(err) {
			return err
		}
		d := time.Duration(min(1<<min(attempt, 8), 500)) * time.Millisecond
		d += rand.N(d/2 + 1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s stayed busy (another kftray process holds the write lock): %w", s.path, err)
		case <-time.After(d):
		}
	}
}

// withTx runs f in one write transaction (BEGIN IMMEDIATE), retrying the
// whole transaction if the database stays busy.
func (s *Store) withTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	return s.retry(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := f(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}
