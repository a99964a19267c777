package store

import (
	"context"

	"github.com/kftray-go/kftray/fwdconfig"
)

// CheckConfig validates c (normalizing it) as AddConfig, or UpdateConfig
// when c.ID is set, would, and writes nothing: the same problems, the
// alias already in use by another config included.
func (s *Store) CheckConfig(ctx context.Context, c *fwdconfig.Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return s.retry(ctx, func() error { return checkAliasFree(ctx, s.db, c.Alias, c.ID) })
}
