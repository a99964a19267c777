package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/store"
)

// DesiredKey is the setting holding the ids of the configs whose forwards
// should run (a JSON array). The daemon restores them when it starts.
const DesiredKey = "daemon.desired"

// desiredSet is the set of configs whose forwards should run: what the
// user asked for, as opposed to what runs now. The daemon keeps it in the
// store so that its next run restores it; `kftray run` keeps none (its
// forwards end with it).
type desiredSet struct {
	st       *store.Store
	remember bool
	log      zerolog.Logger

	mu sync.Mutex // changes are read-modify-write of one setting
}

// get returns the set (read by every process, remembering or not).
func (d *desiredSet) get(ctx context.Context) (map[int64]bool, error) {
	v, ok, err := d.st.GetSetting(ctx, DesiredKey)
	if err != nil || !ok || v == "" {
		return map[int64]bool{}, err
	}
	var ids []int64
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		d.log.Warn().Err(err).Str("value", v).Msg("ignoring a malformed " + DesiredKey + " setting")
		return map[int64]bool{}, nil
	}
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m, nil
}

// change adds ids to the set (want) or removes them.
func (d *desiredSet) change(ctx context.Context, ids []int64, want bool) error {
	if !d.remember || len(ids) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if want {
			m[id] = true
		} else {
			delete(m, id)
		}
	}
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	b, _ := json.Marshal(out)
	if err := d.st.SetSetting(ctx, DesiredKey, string(b)); err != nil {
		return fmt.Errorf("remembering which forwards should run: %w", err)
	}
	return nil
}
