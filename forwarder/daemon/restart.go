package daemon

import (
	"context"
	"errors"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/localapi"
)

// Restart stops the selected forwards this process runs and starts them
// again with their stored configs; selected forwards that are stopped or
// failed are started. With All it restarts the forwards that should run
// (desired) or run here. A forward another live process runs (`kftray
// run`) is reported, not touched.
func (c *Core) Restart(ctx context.Context, sel localapi.Selection) (localapi.Results, error) {
	all, allRefs, res, err := c.selected(ctx, sel)
	if err != nil {
		return localapi.Results{}, err
	}
	desired := map[int64]bool{}
	if sel.All {
		if desired, err = c.Desired(ctx); err != nil {
			return localapi.Results{}, err
		}
	}
	var (
		cfgs []fwdconfig.Config
		refs []string
		ids  []int64
	)
	for i, cfg := range all {
		if sel.All && !desired[cfg.ID] && c.eng.Forward(cfg.ID) == nil {
			continue
		}
		if err := c.CheckNotRunElsewhere(ctx, cfg); err != nil {
			f, _ := c.one(ctx, cfg)
			res = append(res, localapi.Result{Ref: allRefs[i], Forward: &f, Error: err.Error()})
			continue
		}
		cfgs, refs, ids = append(cfgs, cfg), append(refs, allRefs[i]), append(ids, cfg.ID)
	}
	if len(ids) > 0 {
		c.log.Info().Ints64("configs", ids).Msg("restarting forwards")
	}
	c.eng.Stop(ids...)
	c.Flush(ctx)
	if err := c.StartConfigs(ctx, cfgs...); err != nil {
		return localapi.Results{}, err
	}
	return c.results(ctx, res, refs, cfgs), nil
}

func (d *daemon) Restart(ctx context.Context, sel localapi.Selection) (localapi.Results, error) {
	select {
	case <-d.stop:
		return localapi.Results{}, errors.New("the daemon is stopping")
	default:
	}
	return d.core.Restart(ctx, sel)
}
