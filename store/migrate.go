package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] brings the schema from version i to i+1. Append only: a
// released migration never changes, because files in the wild are at every
// version. The schema version lives in PRAGMA user_version.
var migrations = []string{
	// v1: configs with their HTTP log fields inline, and settings.
	`CREATE TABLE configs (
		id                    INTEGER PRIMARY KEY AUTOINCREMENT,
		alias                 TEXT    NOT NULL DEFAULT '',
		context               TEXT    NOT NULL DEFAULT '',
		kubeconfig            TEXT    NOT NULL DEFAULT '',
		namespace             TEXT    NOT NULL,
		workload_type         TEXT    NOT NULL,
		protocol              TEXT    NOT NULL DEFAULT 'tcp',
		service               TEXT    NOT NULL DEFAULT '',
		target                TEXT    NOT NULL DEFAULT '',
		remote_address        TEXT    NOT NULL DEFAULT '',
		remote_port           INTEGER NOT NULL DEFAULT 0,
		local_address         TEXT    NOT NULL DEFAULT '',
		local_port            INTEGER NOT NULL DEFAULT 0,
		auto_loopback_address INTEGER NOT NULL DEFAULT 0,
		domain_enabled        INTEGER NOT NULL DEFAULT 0,
		http_logs_enabled        INTEGER NOT NULL DEFAULT 0,
		http_logs_max_file_size  INTEGER NOT NULL DEFAULT 10485760,
		http_logs_retention_days INTEGER NOT NULL DEFAULT 7,
		http_logs_auto_cleanup   INTEGER NOT NULL DEFAULT 1,
		exposure_type         TEXT    NOT NULL DEFAULT '',
		cert_manager_enabled  INTEGER NOT NULL DEFAULT 0,
		cert_issuer           TEXT    NOT NULL DEFAULT '',
		cert_issuer_kind      TEXT    NOT NULL DEFAULT '',
		ingress_class         TEXT    NOT NULL DEFAULT '',
		ingress_annotations   TEXT    NOT NULL DEFAULT ''
	);
	CREATE TABLE settings (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);`,

	// v2: HTTP log settings in their own table (the log writer reads them
	// without the rest of the config), a revision per config for
	// lost-update detection, and runtime state per config.
	`CREATE TABLE http_logs_config (
		config_id      INTEGER PRIMARY KEY REFERENCES configs(id) ON DELETE CASCADE,
		enabled        INTEGER NOT NULL DEFAULT 0,
		max_file_size  INTEGER NOT NULL DEFAULT 10485760,
		retention_days INTEGER NOT NULL DEFAULT 7,
		auto_cleanup   INTEGER NOT NULL DEFAULT 1
	);
	INSERT INTO http_logs_config (config_id, enabled, max_file_size, retention_days, auto_cleanup)
		SELECT id, http_logs_enabled, http_logs_max_file_size, http_logs_retention_days, http_logs_auto_cleanup FROM configs;
	ALTER TABLE configs DROP COLUMN http_logs_enabled;
	ALTER TABLE configs DROP COLUMN http_logs_max_file_size;
	ALTER TABLE configs DROP COLUMN http_logs_retention_days;
	ALTER TABLE configs DROP COLUMN http_logs_auto_cleanup;
	ALTER TABLE configs ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
	CREATE INDEX configs_alias ON configs (alias COLLATE NOCASE);
	CREATE TABLE config_state (
		config_id     INTEGER PRIMARY KEY REFERENCES configs(id) ON DELETE CASCADE,
		status        TEXT    NOT NULL CHECK (status IN ('running', 'retrying', 'stopped', 'failed')),
		pid           INTEGER NOT NULL DEFAULT 0,
		attempt       INTEGER NOT NULL DEFAULT 0,
		last_error    TEXT    NOT NULL DEFAULT '',
		next_retry_at INTEGER NOT NULL DEFAULT 0, -- unix ms, 0: none
		local_addr    TEXT    NOT NULL DEFAULT '',
		pod           TEXT    NOT NULL DEFAULT '',
		active_conns  INTEGER NOT NULL DEFAULT 0,
		total_conns   INTEGER NOT NULL DEFAULT 0,
		bytes_in      INTEGER NOT NULL DEFAULT 0,
		bytes_out     INTEGER NOT NULL DEFAULT 0,
		reconnects    INTEGER NOT NULL DEFAULT 0,
		updated_at    INTEGER NOT NULL          -- unix ms
	);
	CREATE INDEX config_state_pid ON config_state (pid);`,
}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = len(migrations)

// migrate brings the database to SchemaVersion in one transaction, so a
// crash mid-way leaves the old version intact, and concurrent openers
// serialize on the write lock (the second sees the work already done).
func (s *Store) migrate(ctx context.Context, target int) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		if v > len(migrations) {
			return &NewerSchemaError{Path: s.path, Have: v, Know: len(migrations)}
		}
		for ; v < target; v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrating schema from version %d to %d: %w", v, v+1, err)
			}
		}
		// PRAGMA takes no bound parameters; v is an int we computed.
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
		return err
	})
}

// NewerSchemaError: the file was written by a newer kftray.
type NewerSchemaError struct {
	Path       string
	Have, Know int
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("%s has schema version %d, but this kftray only knows versions up to %d: "+
		"a newer kftray wrote it. Upgrade kftray, or use another config directory (--config-dir or KFTRAY_CONFIG); "+
		"the file was left untouched", e.Path, e.Have, e.Know)
}
