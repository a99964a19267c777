package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kftray-go/kftray/fwdconfig"
)

// State is the runtime state of one config's forward, written by the
// daemon that owns it and read by every interface.
type State struct {
	ConfigID    int64            `json:"config_id"`
	Status      fwdconfig.Status `json:"status"`
	PID         int              `json:"pid"`     // the owning daemon
	Attempt     int              `json:"attempt"` // reconnect attempt, 0 when healthy
	LastError   string           `json:"last_error,omitempty"`
	NextRetry   time.Time        `json:"next_retry,omitzero"`
	LocalAddr   string           `json:"local_addr,omitempty"` // address actually bound, host:port
	Pod         string           `json:"pod,omitempty"`        // pod currently forwarded to
	ActiveConns int64            `json:"active_conns"`
	TotalConns  int64            `json:"total_conns"`
	BytesIn     int64            `json:"bytes_in"`
	BytesOut    int64            `json:"bytes_out"`
	Reconnects  int64            `json:"reconnects"`
	UpdatedAt   time.Time        `json:"updated_at"` // set by PutState
}

// PutState records st (replacing the config's previous state) and sets
// st.UpdatedAt. The config must exist; the error wraps ErrNotFound if not.
func (s *Store) PutState(ctx context.Context, st *State) error {
	if !st.Status.Valid() {
		return fmt.Errorf("state of config %d: status %q is not one of running, retrying, stopped, failed", st.ConfigID, st.Status)
	}
	now := time.Now()
	var next int64
	if !st.NextRetry.IsZero() {
		next = st.NextRetry.UnixMilli()
	}
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO config_state (config_id, status, pid, attempt, last_error, next_retry_at,
				local_addr, pod, active_conns, total_conns, bytes_in, bytes_out, reconnects, updated_at)
			SELECT id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM configs WHERE id = ?
			ON CONFLICT (config_id) DO UPDATE SET status = excluded.status, pid = excluded.pid,
				attempt = excluded.attempt, last_error = excluded.last_error, next_retry_at = excluded.next_retry_at,
				local_addr = excluded.local_addr, pod = excluded.pod, active_conns = excluded.active_conns,
				total_conns = excluded.total_conns, bytes_in = excluded.bytes_in, bytes_out = excluded.bytes_out,
				reconnects = excluded.reconnects, updated_at = excluded.updated_at`,
			string(st.Status), st.PID, st.Attempt, st.LastError, next, st.LocalAddr, st.Pod,
			st.ActiveConns, st.TotalConns, st.BytesIn, st.BytesOut, st.Reconnects, now.UnixMilli(), st.ConfigID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("state for config %d: %w", st.ConfigID, fwdconfig.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.UpdatedAt = time.UnixMilli(now.UnixMilli())
	return nil
}

const selectStates = `SELECT config_id, status, pid, attempt, last_error, next_retry_at, local_addr, pod,
	active_conns, total_conns, bytes_in, bytes_out, reconnects, updated_at FROM config_state`

func scanState(r scanner) (State, error) {
	var st State
	var status string
	var next, updated int64
	err := r.Scan(&st.ConfigID, &status, &st.PID, &st.Attempt, &st.LastError, &next, &st.LocalAddr, &st.Pod,
		&st.ActiveConns, &st.TotalConns, &st.BytesIn, &st.BytesOut, &st.Reconnects, &updated)
	st.Status = fwdconfig.Status(status)
	if next != 0 {
		st.NextRetry = time.UnixMilli(next)
	}
	st.UpdatedAt = time.UnixMilli(updated)
	return st, err
}

// GetStates returns the state of every config that has one, by config id.
func (s *Store) GetStates(ctx context.Context) ([]State, error) {
	var out []State
	err := s.retry(ctx, func() error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, selectStates+" ORDER BY config_id")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			st, err := scanState(rows)
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading forward states from %s: %w", s.path, err)
	}
	return out, nil
}

// GetState returns one config's state; the error wraps ErrNotFound if it
// has none.
func (s *Store) GetState(ctx context.Context, configID int64) (State, error) {
	var st State
	err := s.retry(ctx, func() (err error) {
		st, err = scanState(s.db.QueryRowContext(ctx, selectStates+" WHERE config_id = ?", configID))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("state for config %d: %w", configID, fwdconfig.ErrNotFound)
	}
	return st, err
}

// DeleteState forgets one config's state (no error if it had none).
func (s *Store) DeleteState(ctx context.Context, configID int64) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM config_state WHERE config_id = ?", configID)
		return err
	})
}

// ClearStates deletes the states owned by process pid (a daemon cleaning up
// after itself or after a dead predecessor), returning how many it deleted.
func (s *Store) ClearStates(ctx context.Context, pid int) (int, error) {
	var n int64
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM config_state WHERE pid = ?", pid)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
