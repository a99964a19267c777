package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
)

// The kftray desktop app (Rust) keeps its configs in a configs.db of its own
// schema (a configs table of JSON documents) in the same default directory.
// This store never writes to such a file; it can read its configs for import.

// KftrayAppDBError: Open found the kftray desktop app's database.
type KftrayAppDBError struct{ Path string }

func (e *KftrayAppDBError) Error() string {
	return fmt.Sprintf("%s is the kftray desktop app's database, which this kftray does not share and will not modify. "+
		"Use another config directory (--config-dir or KFTRAY_CONFIG), then copy the app's configs over with "+
		"'kftray config import %s'", e.Path, e.Path)
}

// isKftrayAppDB reports whether the open database has the desktop app's
// schema: a configs table with a data column.
func isKftrayAppDB(ctx context.Context, q querier) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('configs') WHERE name = 'data'`).Scan(&n)
	return n > 0, err
}

// IsSQLite reports whether data starts like a SQLite database file.
func IsSQLite(data []byte) bool { return bytes.HasPrefix(data, []byte("SQLite format 3\x00")) }

// ReadKftrayAppDB reads the configs of a kftray desktop app database at path
// (read-only) and returns them as a kftray JSON array, ready for
// ImportConfigs.
func ReadKftrayAppDB(ctx context.Context, path string) ([]byte, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_busy_timeout=10000"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ok, err := isKftrayAppDB(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s is a SQLite file but not a kftray desktop app database (no configs.data column); "+
			"to copy configs from another kftray-go config directory, export them there with 'kftray config export'", path)
	}
	rows, err := db.QueryContext(ctx, "SELECT id, data FROM configs ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("reading configs from %s: %w", path, err)
	}
	defer rows.Close()
	entries := []json.RawMessage{}
	for rows.Next() {
		var id int64
		var data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("reading configs from %s: %w", path, err)
		}
		if !json.Valid([]byte(data)) {
			return nil, fmt.Errorf("%s: config %d is not valid JSON; export it from the kftray app instead", path, id)
		}
		entries = append(entries, json.RawMessage(data))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading configs from %s: %w", path, err)
	}
	return json.MarshalIndent(entries, "", "  ")
}
