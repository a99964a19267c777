package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// ApplyEdit restarts cfg's forward with cfg (just stored) when this
// process runs it, and reports whether it did. A forward that is stopped,
// failed or run by another process is left alone: it starts with the new
// config next time.
func (c *Core) ApplyEdit(ctx context.Context, cfg fwdconfig.Config) (bool, error) {
	if c.eng.Forward(cfg.ID) == nil {
		return false, nil
	}
	c.log.Info().Int64("config", cfg.ID).Str("name", cfg.Name()).Msg("restarting a forward whose config was edited")
	c.eng.Stop(cfg.ID)
	c.Flush(ctx)
	return true, c.StartConfigs(ctx, cfg)
}

func (d *daemon) Config(ctx context.Context, ref string) (fwdconfig.Config, error) {
	return d.core.st.LookupConfig(ctx, ref)
}

func (d *daemon) CreateConfig(ctx context.Context, cfg fwdconfig.Config) (int64, error) {
	cfg.ID, cfg.Revision = 0, 0
	if err := d.core.st.AddConfig(ctx, &cfg); err != nil {
		return 0, err
	}
	d.core.log.Info().Int64("config", cfg.ID).Str("name", cfg.Name()).Msg("config added through the API")
	return cfg.ID, nil
}

func (d *daemon) UpdateConfig(ctx context.Context, ref string, cfg fwdconfig.Config) (localapi.Updated, error) {
	cur, err := d.core.st.LookupConfig(ctx, ref)
	if err != nil {
		return localapi.Updated{}, err
	}
	if cfg.ID != 0 && cfg.ID != cur.ID {
		return localapi.Updated{}, &fwdconfig.ValidationError{Name: cfg.Name(), Problems: []fwdconfig.FieldError{{
			Field: "id", Msg: fmt.Sprintf("%d is not the id of %q (%d); leave id out, the path names the config", cfg.ID, ref, cur.ID)}}}
	}
	cfg.ID = cur.ID
	if err := d.core.st.UpdateConfig(ctx, &cfg); err != nil {
		if errors.Is(err, fwdconfig.ErrConflict) {
			err = fmt.Errorf("%w; read it again (GET %s/configs/%s) and redo the edit", err, localapi.Version, ref)
		}
		return localapi.Updated{}, err
	}
	select {
	case <-d.stop:
		// Stopping: the next daemon starts it with the new config.
		return localapi.Updated{ID: cfg.ID}, nil
	default:
	}
	restarted, err := d.core.ApplyEdit(ctx, cfg)
	return localapi.Updated{ID: cfg.ID, Restarted: restarted}, err
}

func (d *daemon) ValidateConfig(ctx context.Context, cfg fwdconfig.Config) error {
	return d.core.st.CheckConfig(ctx, &cfg)
}
