package helpercmd

import (
	"context"
	"os"

	"github.com/kftray-go/kftray/helper/install"
	"github.com/kftray-go/kftray/localapi"
)

// Probe returns what `kftray helper status` computes, for the daemon's
// GET /v1/helper: the helper installed on this machine (version must be
// the one this kftray needs; "" accepts any) and whether this user may
// use it. It runs the helper binary's `version` and the service manager's
// status query as the user; nothing as root.
func Probe(version string) func(ctx context.Context) localapi.Helper {
	return probe(install.Options{Version: version}, uint32(os.Getuid()))
}

func probe(o install.Options, uid uint32) func(ctx context.Context) localapi.Helper {
	return func(ctx context.Context) localapi.Helper { return FromStatus(install.GetStatus(ctx, o, uid)) }
}

// FromStatus turns `kftray helper status`'s findings into the API's.
func FromStatus(s install.Status) localapi.Helper {
	h := localapi.Helper{Installed: s.Installed, Version: s.Version, Want: s.Expected, UpToDate: s.UpToDate,
		Allowed: s.UserAllowed, Service: s.Service}
	switch {
	case !s.Installed:
	case s.Setuid:
		h.Error = "the helper binary is setuid/setgid; it must not be: reinstall it"
	case s.ConfigError != "":
		h.Error = s.ConfigError
	}
	return h
}
