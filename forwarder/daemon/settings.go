package daemon

import (
	"context"
	"fmt"

	"github.com/kftray-go/kftray/fwdconfig"
)

func (d *daemon) Settings(ctx context.Context) (map[string]string, error) {
	stored, err := d.core.st.Settings(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, s := range fwdconfig.KnownSettings() {
		v, ok := stored[s.Key]
		if !ok {
			v = s.Default
		}
		out[s.Key] = v
	}
	return out, nil
}

func (d *daemon) SetSetting(ctx context.Context, key, value string) error {
	v, err := fwdconfig.CheckSetting(key, value)
	if err != nil {
		return err
	}
	if err := d.core.st.SetSetting(ctx, key, v); err != nil {
		return err
	}
	d.core.log.Info().Str("key", key).Str("value", v).Msg("setting changed through the API")
	if key == fwdconfig.SettingMCPServerEnabled || key == fwdconfig.SettingMCPServerPort {
		m, err := d.Settings(ctx)
		if err == nil {
			err = d.mcp.apply(ctx, m)
		}
		if err != nil {
			return fmt.Errorf("%s is set to %s, but: %w", key, v, err)
		}
	}
	return nil
}

func (d *daemon) LogPath() string { return d.logPath }
