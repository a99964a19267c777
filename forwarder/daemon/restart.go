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
	if sel.All {
		desired, err := c.Desired(ctx)
		if err != nil {
			return localapi.Results{}, err
		}
		var cfgs []fwdconfig.Config
		var refs []string
		for i, cfg := range all {
			if desired[cfg.ID] || c.eng.Forward(cfg.ID) != nil {
				cfgs, refs = append(cfgs, cfg), append(refs, allRefs[i])
			}
		}
		all, allRefs = cfgs, refs
	}
	cfgs, refs, res := c.runnableHere(ctx, all, allRefs, res)
	ids := make([]int64, len(cfgs))
	for i, cfg := range cfgs {
		ids[i] = cfg.ID
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
