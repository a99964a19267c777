package daemon

import (
	"context"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/localapi"
)

// Helper reports the root helper as the probe sees it (what `kftray helper
// status` computes) and which configs need it. It runs nothing as root:
// the install command is for the user to type.
func (d *daemon) Helper(ctx context.Context) localapi.Helper {
	var h localapi.Helper
	if d.helperProbe != nil {
		h = d.helperProbe(ctx)
	} else {
		h.Error = "this daemon was started without a way to inspect the helper; run `kftray helper status`"
	}
	h.NeededBy = []string{}
	cfgs, err := d.core.st.ListConfigs(ctx)
	if err != nil {
		if h.Error == "" {
			h.Error = "listing configs: " + err.Error()
		}
	}
	for _, cfg := range cfgs {
		if need, _ := forwarder.NeedsHelper(cfg); need {
			h.NeededBy = append(h.NeededBy, cfg.Name())
		}
	}
	if d.helperProbe != nil && (!h.Installed || !h.UpToDate || !h.Allowed) {
		h.InstallCommand = forwarder.HelperInstallCommand
	}
	return h
}
