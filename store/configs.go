package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kftray-go/kftray/fwdconfig"
)

const configColumns = `c.id, c.alias, c.context, c.kubeconfig, c.namespace, c.workload_type, c.protocol,
	c.service, c.target, c.remote_address, c.remote_port, c.local_address, c.local_port,
	c.auto_loopback_address, c.domain_enabled,
	coalesce(h.enabled, 0), coalesce(h.max_file_size, 10485760), coalesce(h.retention_days, 7), coalesce(h.auto_cleanup, 1),
	c.exposure_type, c.cert_manager_enabled, c.cert_issuer, c.cert_issuer_kind, c.ingress_class,
	c.ingress_annotations, c.revision`

const selectConfigs = `SELECT ` + configColumns + ` FROM configs c LEFT JOIN http_logs_config h ON h.config_id = c.id`

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type scanner interface{ Scan(dest ...any) error }

func scanConfig(r scanner) (fwdconfig.Config, error) {
	var c fwdconfig.Config
	var annotations string
	err := r.Scan(&c.ID, &c.Alias, &c.Context, &c.Kubeconfig, &c.Namespace, &c.WorkloadType, &c.Protocol,
		&c.Service, &c.Target, &c.RemoteAddress, &c.RemotePort, &c.LocalAddress, &c.LocalPort,
		&c.AutoLoopbackAddress, &c.DomainEnabled,
		&c.HTTPLogsEnabled, &c.HTTPLogsMaxFileSize, &c.HTTPLogsRetentionDays, &c.HTTPLogsAutoCleanup,
		&c.ExposureType, &c.CertManagerEnabled, &c.CertIssuer, &c.CertIssuerKind, &c.IngressClass,
		&annotations, &c.Revision)
	if err != nil {
		return c, err
	}
	if annotations != "" {
		if err := json.Unmarshal([]byte(annotations), &c.IngressAnnotations); err != nil {
			return c, fmt.Errorf("config %d: stored ingress_annotations are not a JSON object: %w", c.ID, err)
		}
	}
	return c, nil
}

func listConfigs(ctx context.Context, q querier, where string, args ...any) ([]fwdconfig.Config, error) {
	rows, err := q.QueryContext(ctx, selectConfigs+" "+where+" ORDER BY c.id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fwdconfig.Config
	for rows.Next() {
		c, err := scanConfig(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ListConfigs returns every config, by id.
func (s *Store) ListConfigs(ctx context.Context) ([]fwdconfig.Config, error) {
	var out []fwdconfig.Config
	err := s.retry(ctx, func() (err error) {
		out, err = listConfigs(ctx, s.db, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing configs in %s: %w", s.path, err)
	}
	return out, nil
}

// GetConfig returns the config with this id, or an error wrapping ErrNotFound.
func (s *Store) GetConfig(ctx context.Context, id int64) (fwdconfig.Config, error) {
	var c fwdconfig.Config
	err := s.retry(ctx, func() (err error) {
		c, err = getConfig(ctx, s.db, id)
		return err
	})
	return c, err
}

func getConfig(ctx context.Context, q querier, id int64) (fwdconfig.Config, error) {
	c, err := scanConfig(q.QueryRowContext(ctx, selectConfigs+" WHERE c.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("config %d: %w", id, fwdconfig.ErrNotFound)
	}
	return c, err
}

// LookupConfig finds a config by alias (case-insensitive) or by id. Aliases
// cannot be all digits, so the two never collide.
func (s *Store) LookupConfig(ctx context.Context, ref string) (fwdconfig.Config, error) {
	ref = strings.TrimSpace(ref)
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		c, err := s.GetConfig(ctx, id)
		if errors.Is(err, fwdconfig.ErrNotFound) {
			return c, fmt.Errorf("no config with id %d: %w", id, fwdconfig.ErrNotFound)
		}
		return c, err
	}
	var found []fwdconfig.Config
	err := s.retry(ctx, func() (err error) {
		found, err = listConfigs(ctx, s.db, "WHERE c.alias = ? COLLATE NOCASE", ref)
		return err
	})
	switch {
	case err != nil:
		return fwdconfig.Config{}, err
	case len(found) == 0:
		return fwdconfig.Config{}, fmt.Errorf("no config named %q: %w", ref, fwdconfig.ErrNotFound)
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, c := range found {
			ids[i] = strconv.FormatInt(c.ID, 10)
		}
		return fwdconfig.Config{}, fmt.Errorf("%d configs are named %q (ids %s); use an id", len(found), ref, strings.Join(ids, ", "))
	}
	return found[0], nil
}

// AddConfig validates c and stores it as a new config, setting c.ID and
// c.Revision.
func (s *Store) AddConfig(ctx context.Context, c *fwdconfig.Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := checkAliasFree(ctx, tx, c.Alias, 0); err != nil {
			return err
		}
		return insertConfig(ctx, tx, c)
	})
}

// UpdateConfig validates c and overwrites the stored config c.ID. When
// c.Revision is not zero it must match the stored revision, else the error
// wraps ErrConflict and nothing is written.
func (s *Store) UpdateConfig(ctx context.Context, c *fwdconfig.Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return s.withTx(ctx, func(tx *sql.Tx) error {
		cur, err := getConfig(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		if c.Revision != 0 && c.Revision != cur.Revision {
			return fmt.Errorf("config %d (%s) is at revision %d, the edit was made to revision %d: %w",
				c.ID, cur.Name(), cur.Revision, c.Revision, fwdconfig.ErrConflict)
		}
		if err := checkAliasFree(ctx, tx, c.Alias, c.ID); err != nil {
			return err
		}
		c.Revision = cur.Revision
		return updateConfig(ctx, tx, c)
	})
}

// ModifyConfig applies f to the stored config id and writes the result, in
// one transaction: concurrent modifications from any process serialize and
// none is lost. f may run more than once if the database is busy.
func (s *Store) ModifyConfig(ctx context.Context, id int64, f func(c *fwdconfig.Config) error) (fwdconfig.Config, error) {
	var out fwdconfig.Config
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		c, err := getConfig(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := f(&c); err != nil {
			return err
		}
		c.ID = id
		if err := c.Validate(); err != nil {
			return err
		}
		if err := checkAliasFree(ctx, tx, c.Alias, id); err != nil {
			return err
		}
		if err := updateConfig(ctx, tx, &c); err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// DeleteConfigs deletes the configs with these ids (and their state). If any
// id does not exist nothing is deleted and the error wraps ErrNotFound.
func (s *Store) DeleteConfigs(ctx context.Context, ids ...int64) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		var missing []string
		done := map[int64]bool{}
		for _, id := range ids {
			if done[id] {
				continue
			}
			done[id] = true
			res, err := tx.ExecContext(ctx, "DELETE FROM configs WHERE id = ?", id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				missing = append(missing, strconv.FormatInt(id, 10))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("config %s: %w; nothing was deleted", strings.Join(missing, ", "), fwdconfig.ErrNotFound)
		}
		return nil
	})
}

func checkAliasFree(ctx context.Context, q querier, alias string, self int64) error {
	if alias == "" {
		return nil
	}
	var other int64
	err := q.QueryRowContext(ctx, "SELECT id FROM configs WHERE alias = ? COLLATE NOCASE AND id != ? LIMIT 1", alias, self).Scan(&other)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return &fwdconfig.ValidationError{Name: alias, Problems: []fwdconfig.FieldError{{
		Field: "alias",
		Msg:   fmt.Sprintf("%q is already used by config %d; choose another alias or edit that config", alias, other),
	}}}
}

func configArgs(c *fwdconfig.Config) ([]any, error) {
	var annotations string
	if len(c.IngressAnnotations) > 0 {
		b, err := json.Marshal(c.IngressAnnotations)
		if err != nil {
			return nil, err
		}
		annotations = string(b)
	}
	return []any{c.Alias, c.Context, c.Kubeconfig, c.Namespace, c.WorkloadType, c.Protocol,
		c.Service, c.Target, c.RemoteAddress, c.RemotePort, c.LocalAddress, c.LocalPort,
		c.AutoLoopbackAddress, c.DomainEnabled,
		c.ExposureType, c.CertManagerEnabled, c.CertIssuer, c.CertIssuerKind, c.IngressClass,
		annotations}, nil
}

const configSetCols = `alias, context, kubeconfig, namespace, workload_type, protocol,
	service, target, remote_address, remote_port, local_address, local_port,
	auto_loopback_address, domain_enabled,
	exposure_type, cert_manager_enabled, cert_issuer, cert_issuer_kind, ingress_class,
	ingress_annotations`

func insertConfig(ctx context.Context, tx *sql.Tx, c *fwdconfig.Config) error {
	args, err := configArgs(c)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO configs (`+configSetCols+`, revision)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`, args...)
	if err != nil {
		return fmt.Errorf("inserting config %s: %w", c.Name(), err)
	}
	if c.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	c.Revision = 1
	return putHTTPLogs(ctx, tx, c)
}

func updateConfig(ctx context.Context, tx *sql.Tx, c *fwdconfig.Config) error {
	args, err := configArgs(c)
	if err != nil {
		return err
	}
	args = append(args, c.ID)
	_, err = tx.ExecContext(ctx, `UPDATE configs SET (`+configSetCols+`, revision) =
		(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, revision + 1) WHERE id = ?`, args...)
	if err != nil {
		return fmt.Errorf("updating config %d (%s): %w", c.ID, c.Name(), err)
	}
	c.Revision++
	return putHTTPLogs(ctx, tx, c)
}

func putHTTPLogs(ctx context.Context, tx *sql.Tx, c *fwdconfig.Config) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO http_logs_config (config_id, enabled, max_file_size, retention_days, auto_cleanup)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (config_id) DO UPDATE SET enabled = excluded.enabled, max_file_size = excluded.max_file_size,
			retention_days = excluded.retention_days, auto_cleanup = excluded.auto_cleanup`,
		c.ID, c.HTTPLogsEnabled, c.HTTPLogsMaxFileSize, c.HTTPLogsRetentionDays, c.HTTPLogsAutoCleanup)
	return err
}
