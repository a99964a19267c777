package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/kftray-go/kftray/fwdconfig"
)

// ImportConfigs imports a kftray config file (see ParseConfigs), merging
// each entry into the config it is the same forward as (kftray's identity
// rule) instead of duplicating it. It is all or nothing: on any problem it
// writes nothing and returns an *ImportError listing every problem.
func (s *Store) ImportConfigs(ctx context.Context, data []byte) (fwdconfig.ImportResult, error) {
	incoming, err := fwdconfig.ParseConfigs(data)
	if err != nil {
		return fwdconfig.ImportResult{}, err
	}
	res, _, err := s.MergeConfigs(ctx, incoming, MergeOptions{})
	return res, err
}

// MergeOptions change what MergeConfigs does.
type MergeOptions struct {
	// DryRun plans the merge and writes nothing.
	DryRun bool
	// Flush deletes every stored config that no incoming entry is the
	// same forward as (the incoming set replaces the stored one).
	Flush bool
}

// MergeConfigs merges configs (already parsed and valid) into the store as
// ImportConfigs does, and returns the plan it carried out (or, DryRun,
// would carry out) with the result. With Flush, the deleted configs'
// ids are in the plan (action delete); their forwards are the caller's
// to stop.
func (s *Store) MergeConfigs(ctx context.Context, incoming []fwdconfig.Config, opts MergeOptions) (fwdconfig.ImportResult, []fwdconfig.Change, error) {
	var (
		res  fwdconfig.ImportResult
		plan []fwdconfig.Change
	)
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, plan = fwdconfig.ImportResult{}, nil
		existing, err := listConfigs(ctx, tx, "")
		if err != nil {
			return err
		}
		// Plan in memory first, so alias clashes are found before any write.
		type opKind int
		const (
			add opKind = iota
			update
			unchanged
		)
		type op struct {
			entry int // 1-based
			at    int // index into all
			kind  opKind
		}
		all := existing // the configs as they will be after the import
		nStored := len(existing)
		matched := map[int]bool{} // stored configs some entry is the same forward as
		var ops []op
		addedAt := map[int]int{} // index into all -> index into ops, for adds
		for i, in := range incoming {
			in.ID, in.Revision = 0, 0
			j := -1
			for k := range all {
				if fwdconfig.SameForward(&all[k], &in) {
					j = k
					break
				}
			}
			if j < 0 {
				all = append(all, in)
				addedAt[len(all)-1] = len(ops)
				ops = append(ops, op{entry: i + 1, at: len(all) - 1, kind: add})
				continue
			}
			if j < nStored {
				matched[j] = true
			}
			cur := all[j]
			// kftray keeps the stored alias and local port when the file
			// leaves them out.
			if in.Alias == "" {
				in.Alias = cur.Alias
			}
			if in.LocalPort == 0 {
				in.LocalPort = cur.LocalPort
			}
			in.ID, in.Revision = cur.ID, cur.Revision
			all[j] = in
			if k, ok := addedAt[j]; ok {
				// A later entry of the same file for the same forward: it
				// replaces the earlier one, which is still only an add.
				ops[k].entry = i + 1
				continue
			}
			kind := update
			if fwdconfig.SameContent(cur, in) {
				kind = unchanged
			}
			ops = append(ops, op{entry: i + 1, at: j, kind: kind})
		}
		// Flush: stored configs no entry matched go; their aliases are free.
		deleted := map[int]bool{}
		if opts.Flush {
			for k := 0; k < nStored; k++ {
				if !matched[k] {
					deleted[k] = true
				}
			}
		}

		ie := &fwdconfig.ImportError{}
		for _, o := range ops {
			c := all[o.at]
			if o.kind == unchanged || c.Alias == "" {
				continue
			}
			for k, other := range all {
				if k == o.at || deleted[k] || !strings.EqualFold(other.Alias, c.Alias) {
					continue
				}
				who := "another entry of this file"
				if other.ID != 0 {
					who = fmt.Sprintf("config %d", other.ID)
				}
				ie.Entries = append(ie.Entries, fwdconfig.EntryError{Index: o.entry, Name: c.Name(), Problems: []fwdconfig.FieldError{{
					Field: "alias",
					Msg:   fmt.Sprintf("%q is already used by %s; aliases must be unique", c.Alias, who),
				}}})
				break
			}
		}
		if len(ie.Entries) > 0 {
			return ie
		}

		for k := 0; k < nStored; k++ {
			if !deleted[k] {
				continue
			}
			plan = append(plan, fwdconfig.Change{Action: fwdconfig.ChangeDelete, ID: existing[k].ID, Config: existing[k]})
			if opts.DryRun {
				continue
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM configs WHERE id = ?", existing[k].ID); err != nil {
				return err
			}
		}
		for _, o := range ops {
			c := all[o.at]
			switch o.kind {
			case add:
				if !opts.DryRun {
					if err := insertConfig(ctx, tx, &c); err != nil {
						return err
					}
					res.Added = append(res.Added, c.ID)
				}
				plan = append(plan, fwdconfig.Change{Action: fwdconfig.ChangeAdd, ID: c.ID, Config: c})
			case update:
				if !opts.DryRun {
					if err := updateConfig(ctx, tx, &c); err != nil {
						return err
					}
				}
				res.Updated = append(res.Updated, c.ID)
				plan = append(plan, fwdconfig.Change{Action: fwdconfig.ChangeUpdate, ID: c.ID, Config: c})
			case unchanged:
				res.Unchanged = append(res.Unchanged, c.ID)
				plan = append(plan, fwdconfig.Change{Action: fwdconfig.ChangeUnchanged, ID: c.ID, Config: c})
			}
		}
		return nil
	})
	return res, plan, err
}

// ExportConfigs renders every config as a kftray-importable JSON array
// (ids stripped, defaults left out).
func (s *Store) ExportConfigs(ctx context.Context) ([]byte, error) {
	configs, err := s.ListConfigs(ctx)
	if err != nil {
		return nil, err
	}
	if configs == nil {
		configs = []fwdconfig.Config{}
	}
	return fwdconfig.FormatConfigs(configs)
}
